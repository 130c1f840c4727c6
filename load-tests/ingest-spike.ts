/**
 * A spike: from a quiet baseline to 10× in ten seconds and back. Palisade may
 * shed load with 429/503 + Retry-After but must never answer 5xx otherwise,
 * and must recover its latency after the spike.
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import { BASE_URL, INGEST_TOKEN, countEvents, jsonHeaders, realisticBatch } from './lib.ts';

const BASE = Number(__ENV.RATE || 100);

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE,
      timeUnit: '1s',
      preAllocatedVUs: 100,
      maxVUs: 1000,
      stages: [
        { target: BASE, duration: '30s' },
        { target: BASE * 10, duration: '10s' },
        { target: BASE * 10, duration: '30s' },
        { target: BASE, duration: '10s' },
        { target: BASE, duration: '60s' },
      ],
    },
  },
  thresholds: {
    'http_req_failed{expected_response:true}': ['rate<0.001'],
    checks: ['rate>0.99'],
    'http_req_duration{scenario:spike}': ['p(99)<1000'],
  },
};

export default function (): void {
  const res = http.post(`${BASE_URL}/v1/batch`, realisticBatch(10), {
    headers: jsonHeaders(INGEST_TOKEN),
    responseCallback: http.expectedStatuses(200, 429, 503),
  });
  check(res, {
    'accepted or shed with Retry-After': (r) => r.status === 200 || ((r.status === 429 || r.status === 503) && r.headers['Retry-After'] !== undefined),
  });
  countEvents(res.status, res.body as string | null, 10);
}
