/**
 * The query API, in-process (`app.request()` on a node built from real parts:
 * chDB, spool, flusher, audit log; nothing here needs a process): events ingested
 * through the public API come back with the right numbers (a retried
 * request counts once), only a query key can read, CORS admits only the
 * server's own origin and PALISADE_DASHBOARD_ORIGINS, a query over the
 * node's limits is a 422 with its own code, and each call leaves one log
 * line with metadata only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startInProcess, type InProcessPalisade } from './helpers/in-process.ts';
import { basic, createTenant, removeDir, waitFor, type CreatedTenant, type HttpResult } from './helpers/palisade.ts';

let p: InProcessPalisade;
let t: CreatedTenant;
let big: CreatedTenant;
const DASH = 'https://dash.example';
const SECRET_VALUE = 'plan-value-that-must-not-be-logged';
const day = (d: number, h = 12) => new Date(Date.UTC(2026, 10, d, h)).toISOString();

before(async () => {
  p = await startInProcess({ env: { PALISADE_DASHBOARD_ORIGINS: DASH, PALISADE_QUERY_MAX_ROWS_TO_READ: '1000' } });
  [t, big] = await Promise.all([createTenant(p, 'acme'), createTenant(p, 'big')]);
  const batch = [
    { type: 'page', name: 'Home', anonymousId: 'a1', timestamp: day(20, 9), properties: { path: '/', referrer: 'https://www.google.com/' } },
    { type: 'page', name: 'Home', userId: 'u1', timestamp: day(20, 10), properties: { path: '/', referrer: 'https://news.ycombinator.com/' } },
    { type: 'track', event: 'Signed Up', userId: 'u1', timestamp: day(20, 11), properties: { plan: SECRET_VALUE }, messageId: 'signup-u1' },
    { type: 'track', event: 'Purchased', userId: 'u1', timestamp: day(21), properties: { price: 20 } },
    { type: 'page', name: 'Pricing', userId: 'u2', timestamp: day(21, 13), properties: { path: '/pricing' } },
    { type: 'track', event: 'Broken', userId: 'u2', timestamp: 'not a time' },
  ];
  const r = await p.api<{ accepted: number }>('POST', '/v1/batch', { body: { batch }, headers: basic(t.keys.ingest) });
  assert.equal(r.body.accepted, 5);
  // A retried request: the same messageId again must not count twice.
  await p.api('POST', '/v1/track', { body: { event: 'Signed Up', userId: 'u1', timestamp: day(20, 11), properties: { plan: SECRET_VALUE }, messageId: 'signup-u1' }, headers: basic(t.keys.ingest) });
  const many = Array.from({ length: 1500 }, (_, i) => ({ type: 'track', event: 'Tick', userId: `u${i % 50}`, timestamp: day(22) }));
  await p.api('POST', '/v1/batch', { body: { batch: many }, headers: basic(big.keys.ingest) });
  await waitFor(async () => (await query(big, { kind: 'top', by: { field: 'event' }, from: '2026-11-01T00:00:00Z' })).status === 422 && true, 10_000, 'the big tenant to land');
  await waitFor(async () => {
    const r = await query(t, { kind: 'events', from: '2026-11-01T00:00:00Z', limit: 10 });
    return (r.body as { events: unknown[] }).events.length === 5;
  }, 10_000, 'events to land');
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

function query(who: CreatedTenant, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return p.api('POST', '/v1/query', { body, headers: { ...basic(who.keys.query), ...headers } });
}

function expectError(r: HttpResult, status: number, code: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal((r.body as { error: { code: string } }).error.code, code);
  assert.equal(r.headers['cache-control'], 'no-store');
}

const RANGE = { from: '2026-11-19T00:00:00Z', to: '2026-11-23T00:00:00Z' };

describe('answers', () => {
  test('a daily trend: every day of the range, the retried event once', async () => {
    const r = await query(t, { kind: 'trend', ...RANGE, interval: 'day' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {
      kind: 'trend', measure: 'events', interval: 'day', timezone: 'UTC', from: '2026-11-19T00:00:00.000Z', to: '2026-11-23T00:00:00.000Z',
      buckets: ['2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22'], total: 5, series: [{ key: null, total: 5, values: [0, 3, 2, 0] }], other: null,
    });
    const users = await query(t, { kind: 'trend', ...RANGE, measure: 'users' });
    assert.equal((users.body as { total: number }).total, 3);
  });

  test('top pages, referrers; a funnel; the event list; the schema', async () => {
    const pages = await query(t, { kind: 'top', ...RANGE, by: { field: 'page_path' }, filters: [{ field: 'type', op: 'eq', value: 'page' }] });
    assert.deepEqual((pages.body as { rows: { value: string; count: number }[] }).rows.map((x) => [x.value, x.count]), [['/', 2], ['/pricing', 1]]);
    const refs = await query(t, { kind: 'top', ...RANGE, by: { field: 'referring_domain' } });
    assert.deepEqual((refs.body as { rows: { value: string }[] }).rows.map((x) => x.value), ['google.com', 'news.ycombinator.com']);
    const funnel = await query(t, { kind: 'funnel', ...RANGE, steps: [{ event: 'Home' }, { event: 'Signed Up' }, { event: 'Purchased' }], windowSeconds: 7 * 86_400 });
    assert.deepEqual((funnel.body as { steps: { count: number }[] }).steps.map((s) => s.count), [2, 1, 1]);
    const list = await query(t, { kind: 'events', ...RANGE, limit: 2 });
    const page1 = list.body as { events: { event: string }[]; nextCursor: string };
    assert.deepEqual(page1.events.map((e) => e.event), ['Pricing', 'Purchased']);
    const page2 = (await query(t, { kind: 'events', ...RANGE, limit: 10, cursor: page1.nextCursor })).body as { events: { event: string }[]; nextCursor: null };
    assert.deepEqual(page2.events.map((e) => e.event), ['Signed Up', 'Home', 'Home']);
    assert.equal(page2.nextCursor, null);
    const schema = await p.api<{ events: { name: string }[]; properties: { name: string }[] }>('GET', '/v1/query/schema?from=-700d', { headers: basic(t.keys.query) });
    assert.equal(schema.status, 200, schema.text);
    assert.deepEqual(schema.body.events.map((e) => e.name).sort(), ['Home', 'Pricing', 'Purchased', 'Signed Up']);
    assert.deepEqual(schema.body.properties.map((x) => x.name).sort(), ['path', 'plan', 'price', 'referrer']);
  });

  test('the ingestion warning of the refused event is visible to its tenant', async () => {
    const r = await waitFor(async () => {
      const r = await query(t, { kind: 'warnings', from: '-1d' });
      return (r.body as { items: unknown[] }).items.length > 0 && r;
    }, 5_000, 'the warnings ledger');
    const item = (r.body as { items: { source: string; code: string; index: number }[] }).items[0];
    assert.deepEqual([item?.source, item?.code, item?.index], ['warning', 'invalid_timestamp', 5]);
  });
});

describe('who may ask', () => {
  test('only a query key: none → 401, ingest or browser key → 403 wrong_scope', async () => {
    expectError(await p.api('POST', '/v1/query', { body: { kind: 'trend' } }), 401, 'unauthorized');
    expectError(await p.api('POST', '/v1/query', { body: { kind: 'trend' }, headers: basic(t.keys.ingest) }), 403, 'wrong_scope');
    expectError(await p.api('POST', '/v1/query', { body: { kind: 'trend' }, headers: { authorization: `Bearer ${t.keys.browser}` } }), 403, 'wrong_scope');
    expectError(await p.api('GET', '/v1/query/schema', { headers: basic(t.keys.ingest) }), 403, 'wrong_scope');
    expectError(await p.api('POST', '/v1/query', { body: { kind: 'trend', writeKey: t.keys.browser } }), 401, 'unauthorized');
    expectError(await p.api('POST', `/v1/query?key=${t.keys.query}`, { body: { kind: 'trend' }, headers: basic(t.keys.query) }), 403, 'credential_in_url');
    assert.equal((await p.api('POST', '/v1/query', { body: { kind: 'trend' }, headers: { authorization: `Bearer ${t.keys.query}` } })).status, 200);
  });

  test('a query key cannot send events', async () => {
    expectError(await p.api('POST', '/v1/track', { body: { event: 'x', userId: 'u' }, headers: basic(t.keys.query) }), 403, 'wrong_scope');
  });

  test('CORS: the server\'s own origin and PALISADE_DASHBOARD_ORIGINS only', async () => {
    const own = `https://localhost:${p.apiPort}`;
    for (const origin of [own, DASH]) {
      const r = await query(t, { kind: 'trend' }, { origin });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      const pre = await p.api('OPTIONS', '/v1/query', { headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], origin);
      assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);
    }
    for (const origin of ['https://evil.example', 'null', `${DASH}.evil.example`, 'http://dash.example']) {
      const r = await query(t, { kind: 'trend' }, { origin });
      expectError(r, 403, 'origin_not_allowed');
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      const pre = await p.api('OPTIONS', '/v1/query', { headers: { origin, 'access-control-request-method': 'POST' } });
      assert.equal(pre.status, 403);
      assert.equal(pre.headers['access-control-allow-origin'], undefined);
    }
  });
});

describe('bad queries and limits', () => {
  test('invalid queries are 400 invalid_query and never echo the request', async () => {
    for (const body of [{ kind: 'sql', sql: 'SELECT 1' }, { kind: 'trend', tenant_id: 'ten_x' }, { kind: 'top', by: { property: 'p'.repeat(10_240) } }, { kind: 'trend', interval: 'decade' }, {}, []]) {
      const r = await query(t, body);
      expectError(r, 400, 'invalid_query');
      assert.ok(!r.text.includes('SELECT 1') && !r.text.includes('ppppp') && !r.text.includes('decade'), r.text);
    }
    expectError(await p.api('POST', '/v1/query', { raw: '{"kind":', headers: { ...basic(t.keys.query), 'content-type': 'application/json' } }), 400, 'invalid_json');
    expectError(await p.api('POST', '/v1/query', { raw: 'kind=trend', headers: { ...basic(t.keys.query), 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectError(await p.api('POST', '/v1/query', { body: { kind: 'trend', pad: 'x'.repeat(70_000) }, headers: basic(t.keys.query) }), 413, 'payload_too_large');
    expectError(await p.api('GET', '/v1/query', { headers: basic(t.keys.query) }), 405, 'method_not_allowed');
    expectError(await query(t, { kind: 'events', cursor: 'AAAA' }), 400, 'invalid_cursor');
  });

  test('a query over the rows-to-read cap is a 422 query_too_expensive, and the node keeps answering', async () => {
    const r = await query(big, { kind: 'trend', from: '2026-11-01T00:00:00Z', measure: 'users' });
    expectError(r, 422, 'query_too_expensive');
    assert.match((r.body as { error: { message: string } }).error.message, /narrow/);
    assert.equal((await query(t, { kind: 'trend' })).status, 200);
    assert.equal((await p.api('GET', '/healthz')).status, 200);
  });

  test('each call leaves one log line with tenant, key, kind, rows and duration, and no names or values', async () => {
    const r = await query(t, { kind: 'top', ...RANGE, by: { property: 'plan' }, filters: [{ property: 'plan', op: 'eq', value: SECRET_VALUE }] });
    const requestId = String(r.headers['x-request-id']);
    const lines = () => p.output.filter((l) => l.includes('"msg":"query"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = await waitFor(async () => lines().find((l) => l.requestId === requestId), 2_000, 'the query log line');
    assert.equal(last.kind, 'top');
    assert.equal(last.tenantId, t.tenant.id);
    assert.equal(last.outcome, 'ok');
    assert.equal(last.rows, 2);
    assert.equal(typeof last.durationMs, 'number');
    assert.ok(lines().some((l) => l.outcome === 'query_too_expensive'));
    assert.ok(!p.output.some((l) => l.includes(SECRET_VALUE)), 'a queried value reached the logs');
  });

  test('responses are JSON, never cached, with the API CSP', async () => {
    const r = await query(t, { kind: 'trend' });
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });
});
