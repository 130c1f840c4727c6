/**
 * Mixed load: steady ingestion plus dashboards reading it back through
 * POST /v1/query (trend, top pages, funnel, recent events), as a busy tenant
 * with its dashboards open would. The query thresholds are for the edge and
 * ClickHouse together; ingest latency must hold while queries run.
 *   k6 run -e INGEST_TOKEN=pal_sk_… -e QUERY_TOKEN=pal_sk_… load-tests/mixed.ts
 *   (RATE: ingest batches/s, default 100; QUERY_RATE: queries/s, default 5; DURATION, default 5m)
 */
import http from 'k6/http';
import { check } from 'k6';
import type { Options } from 'k6/options';
import { BASE_URL, INGEST_TOKEN, QUERY_TOKEN, countEvents, jsonHeaders, realisticBatch } from './lib.ts';

const BATCH = 20;
const DURATION = __ENV.DURATION || '5m';

export const options: Options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    ingest: {
      executor: 'constant-arrival-rate',
      exec: 'ingest',
      rate: Number(__ENV.RATE || 100),
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 30,
      maxVUs: 150,
    },
    dashboards: {
      executor: 'constant-arrival-rate',
      exec: 'dashboard',
      rate: Number(__ENV.QUERY_RATE || 5),
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 10,
      maxVUs: 50,
    },
  },
  thresholds: {
    'http_req_failed{scenario:ingest}': ['rate<0.001'],
    'http_req_duration{scenario:ingest}': ['p(99)<250'],
    'http_req_failed{scenario:dashboards}': ['rate<0.01'],
    'http_req_duration{scenario:dashboards}': ['p(95)<1000'],
    events_rejected: ['count==0'],
  },
};

// What a dashboard page asks for, in the query API's shape (src/query/schema.ts).
const QUERIES: { name: string; body: Record<string, unknown> }[] = [
  { name: 'trend', body: { kind: 'trend', from: '-24h', interval: 'hour', measure: 'events' } },
  { name: 'trend_users', body: { kind: 'trend', from: '-7d', interval: 'day', measure: 'users', breakdown: { field: 'event' }, limit: 5 } },
  { name: 'top_pages', body: { kind: 'top', from: '-24h', by: { field: 'page_path' }, measure: 'events', filters: [{ field: 'type', op: 'eq', value: 'page' }] } },
  { name: 'top_plans', body: { kind: 'top', from: '-7d', by: { property: 'plan' }, measure: 'users', limit: 5 } },
  { name: 'funnel', body: { kind: 'funnel', from: '-7d', steps: [{ event: 'Signed Up' }, { event: 'Added to Cart' }, { event: 'Checked Out' }], windowSeconds: 86_400 } },
  { name: 'events', body: { kind: 'events', from: '-1h', limit: 50 } },
];

export function ingest(): void {
  const res = http.post(`${BASE_URL}/v1/batch`, realisticBatch(BATCH), { headers: jsonHeaders(INGEST_TOKEN) });
  check(res, { 'ingest 200': (r) => r.status === 200 });
  countEvents(res.status, res.body as string | null, BATCH);
}

export function dashboard(): void {
  const q = QUERIES[Math.floor(Math.random() * QUERIES.length)] ?? QUERIES[0];
  if (!q) return;
  const res = http.post(`${BASE_URL}/v1/query`, JSON.stringify(q.body), { headers: jsonHeaders(QUERY_TOKEN), tags: { query: q.name } });
  check(res, { 'query 200': (r) => r.status === 200 });
}
