/**
 * The two loads of the ingest tables (bench/run.ts, bench/scale-out.ts): one
 * event per `/v1/track` request, and batches of 50 on `/v1/batch`. One
 * definition, so both tables send the same bytes.
 */
import type { CeilingScenario } from './ceiling.ts';

export const BATCH = 50;

const single = JSON.stringify({ event: 'Signed Up', userId: 'u1', properties: { plan: 'pro', referrer: 'https://example.com/a' }, context: { library: { name: 'bench' } } });
const batch = JSON.stringify({
  batch: Array.from({ length: BATCH }, (_, i) => ({ type: 'track', event: `Event ${i % 5}`, userId: `u${i}`, properties: { plan: 'pro', n: i } })),
});

export const INGEST_SCENARIOS: CeilingScenario[] = [
  { name: 'single event', route: 'track', body: single, events: 1 },
  { name: `batch of ${BATCH}`, route: 'batch', body: batch, events: BATCH },
];
