/**
 * The attack mix beside legitimate traffic: random secrets against a real key
 * id (argon2 must stay capped), oversize bodies, malformed JSON and a flood
 * of unauthenticated requests. The thresholds say what must hold: the
 * legitimate scenario keeps its latency and never fails, and no attack
 * request gets a 5xx.
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import encoding from 'k6/encoding';
import { BASE_URL, INGEST_TOKEN, countEvents, jsonHeaders, realisticBatch } from './lib.ts';

const KEY_ID = __ENV.KEY_ID || INGEST_TOKEN.slice(7, 23);
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomSecret(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += B62[Math.floor(Math.random() * 62)];
  return s;
}

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    legit: { executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: __ENV.DURATION || '2m', preAllocatedVUs: 20, exec: 'legit' },
    badSecrets: { executor: 'constant-arrival-rate', rate: 200, timeUnit: '1s', duration: __ENV.DURATION || '2m', preAllocatedVUs: 50, maxVUs: 200, exec: 'badSecret' },
    oversize: { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: __ENV.DURATION || '2m', preAllocatedVUs: 10, exec: 'oversize' },
    garbage: { executor: 'constant-arrival-rate', rate: 100, timeUnit: '1s', duration: __ENV.DURATION || '2m', preAllocatedVUs: 20, exec: 'garbage' },
  },
  thresholds: {
    'http_req_failed{scenario:legit}': ['rate<0.001'],
    'http_req_duration{scenario:legit}': ['p(99)<300'],
    'checks{scenario:badSecrets}': ['rate==1'],
    'checks{scenario:oversize}': ['rate==1'],
    'checks{scenario:garbage}': ['rate==1'],
  },
};

const no5xx = (r: { status: number }) => r.status >= 400 && r.status < 500;

export function legit(): void {
  const res = http.post(`${BASE_URL}/v1/batch`, realisticBatch(20), { headers: jsonHeaders(INGEST_TOKEN) });
  check(res, { 'legit accepted': (r) => r.status === 200 });
  countEvents(res.status, res.body as string | null, 20);
}

export function badSecret(): void {
  // Right shape, wrong secret: the checksum is random too, so most fail before argon2.
  const token = `pal_sk_${KEY_ID}_${randomSecret(28)}`;
  const res = http.post(`${BASE_URL}/v1/track`, JSON.stringify({ event: 'x', userId: 'u' }), {
    headers: { 'content-type': 'application/json', authorization: `Basic ${encoding.b64encode(`${token}:`)}` },
    responseCallback: http.expectedStatuses(401, 429),
  });
  check(res, { 'bad secret refused with 4xx': no5xx });
}

export function oversize(): void {
  const body = JSON.stringify({ batch: [{ type: 'track', event: 'x', userId: 'u', properties: { blob: 'x'.repeat(600 * 1024) } }] });
  const res = http.post(`${BASE_URL}/v1/batch`, body, { headers: jsonHeaders(INGEST_TOKEN), responseCallback: http.expectedStatuses(413) });
  check(res, { 'oversize refused with 413': (r) => r.status === 413 });
}

export function garbage(): void {
  const res = http.post(`${BASE_URL}/v1/batch`, '{"batch": [', { headers: { 'content-type': 'application/json' }, responseCallback: http.expectedStatuses(400, 401) });
  check(res, { 'garbage refused with 4xx': no5xx });
}
