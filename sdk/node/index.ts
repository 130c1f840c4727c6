/**
 * Palisade's Node SDK:
 *   import { Palisade } from 'palisade/sdk';
 *   const palisade = new Palisade({ token: process.env.PALISADE_INGEST_KEY, host: 'https://palisade.example.com' });
 *   palisade.track({ userId: 'u1', event: 'Signed Up', properties: { plan: 'pro' } });
 *   await palisade.shutdown();
 */
export { Palisade, VERSION } from './client.ts';
export type * from './types.ts';
