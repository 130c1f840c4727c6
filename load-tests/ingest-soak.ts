/**
 * Soak: a moderate steady load for an hour (DURATION to change it) to catch
 * leaks, spool growth and part-count creep. Watch /metrics on the admin
 * listener while it runs (spool bytes, oldest unflushed age, parts).
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import { BASE_URL, INGEST_TOKEN, countEvents, jsonHeaders, realisticBatch } from './lib.ts';

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    soak: { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE || 50), timeUnit: '1s', duration: __ENV.DURATION || '1h', preAllocatedVUs: 20, maxVUs: 100 },
  },
  thresholds: {
    http_req_failed: ['rate<0.0001'],
    'http_req_duration{scenario:soak}': ['p(99)<250'],
    events_rejected: ['count==0'],
  },
};

export default function (): void {
  const res = http.post(`${BASE_URL}/v1/batch`, realisticBatch(50), { headers: jsonHeaders(INGEST_TOKEN) });
  check(res, { 'status is 200': (r) => r.status === 200 });
  countEvents(res.status, res.body as string | null, 50);
}
