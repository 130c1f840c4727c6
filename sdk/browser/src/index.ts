/**
 * The snippet as an ES module, for sites that bundle their own JavaScript:
 *   import { palisade } from 'https://palisade.example.com/sdk/palisade.mjs';
 *   palisade.init('pal_pk_…', { host: 'https://palisade.example.com' });
 * `Palisade` makes more instances (one per write key) if a page needs them.
 */
import { Palisade } from './client.ts';

export { Palisade };
export type { InitOptions, Props, QueuedEvent } from './types.ts';

export const palisade = new Palisade();
