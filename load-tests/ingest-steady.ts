/**
 * Steady ingest: realistic batches of 20 events at a constant arrival rate.
 * Thresholds encode the service's targets for a single edge.
 *   k6 run -e INGEST_TOKEN=pal_sk_… load-tests/ingest-steady.ts
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import { BASE_URL, INGEST_TOKEN, countEvents, jsonHeaders, realisticBatch } from './lib.ts';

const BATCH = 20;

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE || 200), timeUnit: '1s', duration: __ENV.DURATION || '5m', preAllocatedVUs: 50, maxVUs: 200 },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    'http_req_duration{scenario:steady}': ['p(99)<250', 'p(50)<50'],
    events_accepted: [`count>${Number(__ENV.RATE || 200) * BATCH * 60}`],
    events_rejected: ['count==0'],
  },
};

export default function (): void {
  const res = http.post(`${BASE_URL}/v1/batch`, realisticBatch(BATCH), { headers: jsonHeaders(INGEST_TOKEN) });
  check(res, { 'status is 200': (r) => r.status === 200 });
  countEvents(res.status, res.body as string | null, BATCH);
}
