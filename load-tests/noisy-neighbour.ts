/**
 * Noisy neighbour (the k6 twin of bench/noisy-neighbour.ts): tenant A runs 8
 * concurrent heavy queries and 4 exports; a stranger floods tenant B's public
 * browser key; tenant B's visitors send events at a steady rate and B's
 * dashboards query. The thresholds are B's: its queries stay fast and its
 * visitors are never refused, whatever A and the stranger do.
 *   k6 run -e A_QUERY_TOKEN=pal_sk_… -e B_QUERY_TOKEN=pal_sk_… -e B_BROWSER_KEY=pal_pk_… \
 *          -e B_ORIGIN=https://shop.example load-tests/noisy-neighbour.ts
 *   (DURATION, default 2m; B_QUERY_P95_MS, default 500; STRANGER_XFF / VISITOR_XFF:
 *   X-Forwarded-For of the stranger and of B's visitors, only believed when k6 runs
 *   on a host in the edge's PALISADE_TRUSTED_PROXIES; without them run the stranger
 *   from another machine, or the split per client network cannot tell them apart.)
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { BASE_URL, basicAuth } from './lib.ts';
import { DASHBOARD_QUERIES } from './scenarios.ts';

const DURATION = __ENV.DURATION || '2m';
const A_QUERY_TOKEN = __ENV.A_QUERY_TOKEN || '';
const B_QUERY_TOKEN = __ENV.B_QUERY_TOKEN || '';
const B_BROWSER_KEY = __ENV.B_BROWSER_KEY || '';
const B_ORIGIN = __ENV.B_ORIGIN || 'https://shop.example';
const STRANGER_XFF = __ENV.STRANGER_XFF || '';
const VISITOR_XFF = __ENV.VISITOR_XFF || '';

const visitorRefusals = new Counter('b_visitor_refusals');
const bQuery = new Trend('b_query_ms', true);

const HEAVY = [
  { kind: 'schema', from: '-30d' },
  { kind: 'top', from: '-30d', by: { property: 'path' }, limit: 100 },
  { kind: 'trend', from: '-30d', interval: 'hour', breakdown: { property: 'plan' } },
];

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    a_heavy_queries: { executor: 'constant-vus', exec: 'heavyQuery', vus: 8, duration: DURATION },
    a_exports: { executor: 'constant-vus', exec: 'exportA', vus: 4, duration: DURATION },
    stranger_flood: { executor: 'constant-vus', exec: 'flood', vus: 8, duration: DURATION },
    b_visitors: { executor: 'constant-arrival-rate', exec: 'visit', rate: 10, timeUnit: '1s', duration: DURATION, preAllocatedVUs: 5, maxVUs: 20 },
    b_dashboards: { executor: 'constant-vus', exec: 'dashboard', vus: 1, duration: DURATION },
  },
  thresholds: {
    b_visitor_refusals: ['count==0'],
    'http_req_failed{scenario:b_dashboards}': ['rate==0'],
    b_query_ms: [`p(95)<${Number(__ENV.B_QUERY_P95_MS || 500)}`],
  },
};

function json(token: string): Record<string, string> {
  return { 'content-type': 'application/json', authorization: basicAuth(token) };
}

export function heavyQuery(): void {
  const q = HEAVY[__ITER % HEAVY.length];
  const res = http.post(`${BASE_URL}/v1/query`, JSON.stringify(q), { headers: json(A_QUERY_TOKEN), responseCallback: http.expectedStatuses(200, 429) });
  // An attacker that ignores Retry-After.
  if (res.status !== 200) sleep(0.02);
}

export function exportA(): void {
  const res = http.get(`${BASE_URL}/v1/export`, { headers: { authorization: `Bearer ${A_QUERY_TOKEN}` }, responseCallback: http.expectedStatuses(200, 429) });
  if (res.status !== 200) sleep(0.02);
}

export function flood(): void {
  const batch = Array.from({ length: 100 }, (_, i) => ({ type: 'track', event: 'Flood', anonymousId: `s${__VU}-${i}` }));
  http.post(`${BASE_URL}/v1/batch`, JSON.stringify({ writeKey: B_BROWSER_KEY, batch }), {
    headers: { 'content-type': 'application/json', origin: B_ORIGIN, ...(STRANGER_XFF ? { 'x-forwarded-for': STRANGER_XFF } : {}) },
    responseCallback: http.expectedStatuses(200, 429),
  });
}

export function visit(): void {
  const res = http.post(`${BASE_URL}/v1/track`, JSON.stringify({ writeKey: B_BROWSER_KEY, event: 'Visit', anonymousId: `v-${__VU}-${__ITER}` }), {
    headers: { 'content-type': 'application/json', origin: B_ORIGIN, ...(VISITOR_XFF ? { 'x-forwarded-for': VISITOR_XFF } : {}) },
  });
  if (!check(res, { 'visitor 200': (r) => r.status === 200 })) visitorRefusals.add(1);
}

export function dashboard(): void {
  const q = DASHBOARD_QUERIES[__ITER % DASHBOARD_QUERIES.length];
  if (!q) return;
  const res = http.post(`${BASE_URL}/v1/query`, JSON.stringify(q.body), { headers: json(B_QUERY_TOKEN), tags: { query: q.name } });
  check(res, { 'B query 200': (r) => r.status === 200 });
  bQuery.add(res.timings.duration);
}
