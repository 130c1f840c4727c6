/**
 * The loads of the ingest tables (bench/run.ts, bench/scale-out.ts): one
 * event per `/v1/track` request, and batches of 50 on `/v1/batch`, without a
 * messageId (the server makes one); and batches of 50 whose every event
 * carries a fresh messageId of the client's, as every Segment and RudderStack
 * SDK sends: the flusher then looks each id up before its INSERT (a client
 * may retry what was already stored), which costs the engine more the more
 * events the tenant has that day. One definition, so every table sends the
 * same bytes.
 */
import type { CeilingScenario } from './ceiling.ts';
import { MESSAGE_ID } from './load.ts';

export const BATCH = 50;

const single = JSON.stringify({ event: 'Signed Up', userId: 'u1', properties: { plan: 'pro', referrer: 'https://example.com/a' }, context: { library: { name: 'bench' } } });
const batch = JSON.stringify({
  batch: Array.from({ length: BATCH }, (_, i) => ({ type: 'track', event: `Event ${i % 5}`, userId: `u${i}`, properties: { plan: 'pro', n: i } })),
});

// MESSAGE_ID is replaced per event, per request, by the load generator (bench/load.ts).
const batchWithIds = JSON.stringify({
  batch: Array.from({ length: BATCH }, (_, i) => ({ type: 'track', messageId: MESSAGE_ID, event: `Event ${i % 5}`, userId: `u${i}`, properties: { plan: 'pro', n: i } })),
});

/** `key` is what BENCH_ROUTES names a scenario by. */
export const INGEST_SCENARIOS: (CeilingScenario & { key: 'track' | 'batch' | 'batch-ids' })[] = [
  { key: 'track', name: 'single event', route: 'track', body: single, events: 1 },
  { key: 'batch', name: `batch of ${BATCH}`, route: 'batch', body: batch, events: BATCH },
  { key: 'batch-ids', name: `batch of ${BATCH}, SDK message ids`, route: 'batch', body: batchWithIds, events: BATCH },
];
