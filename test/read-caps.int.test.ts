/**
 * Every read of a tenant's data goes through that tenant's query caps:
 * POST /v1/query, GET /v1/query/schema, GET /v1/export, GET /v1/audit, an
 * operator's support query and support export. Tenant A, over each cap on
 * each route, gets the query API's codes (429 too_many_queries, 422
 * query_too_expensive) while tenant B, uncapped, gets 200 on the same route.
 * An export is bounded per call and resumes with its cursor. And a browser
 * key flooded from one network leaves another network's events accepted.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type HttpResult, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let a: CreatedTenant;
let b: CreatedTenant;
const SHOP = 'https://shop.example';
// Enough events that an export's stream outlasts the socket buffers when nobody reads it (~1 KB each).
const A_EVENTS = 24_000;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface Route {
  name: string;
  call: (t: CreatedTenant) => Promise<HttpResult>;
}

const ROUTES: Route[] = [
  { name: 'POST /v1/query', call: (t) => p.api('POST', '/v1/query', { body: { kind: 'trend', from: '2026-11-01T00:00:00Z', to: '2026-11-30T00:00:00Z' }, headers: basic(t.keys.query) }) },
  { name: 'GET /v1/query/schema', call: (t) => p.api('GET', '/v1/query/schema', { headers: basic(t.keys.query) }) },
  { name: 'GET /v1/export', call: (t) => p.api('GET', '/v1/export', { headers: bearer(t.keys.query) }) },
  { name: 'GET /v1/audit', call: (t) => p.api('GET', '/v1/audit?limit=5', { headers: bearer(t.keys.query) }) },
  { name: 'POST /admin/tenants/:id/query', call: (t) => p.admin('POST', `/admin/tenants/${t.tenant.id}/query`, { kind: 'events', limit: 2 }) },
  { name: 'GET /admin/tenants/:id/export', call: (t) => p.admin('GET', `/admin/tenants/${t.tenant.id}/export`) },
];

function setQuery(t: CreatedTenant, value: unknown): Promise<HttpResult> {
  return p.admin('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { query: value });
}

function expectError(r: HttpResult, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.text.slice(0, 300)}`);
  assert.equal((r.body as { error: { code: string } }).error.code, code, what);
}

async function send(t: CreatedTenant, n: number, day: number): Promise<void> {
  // 500 events of ~700 bytes: under the 500 KB body limit.
  for (let off = 0; off < n; off += 500) {
    const batch = Array.from({ length: Math.min(500, n - off) }, (_, i) => ({
      type: 'track',
      event: 'Tick',
      userId: `u${(off + i) % 97}`,
      properties: { pad: 'x'.repeat(500) },
      timestamp: new Date(Date.UTC(2026, 10, day, 0, 0, 0, off + i)).toISOString(),
    }));
    const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: basic(t.keys.ingest) });
    assert.equal(r.status, 200, r.text);
  }
}

before(async () => {
  p = await startPalisade({
    env: {
      PALISADE_QUERY_MAX_CONCURRENT: '4',
      PALISADE_QUERY_MAX_ROWS_TO_READ: '10000000',
      // The test client is the trusted proxy: X-Forwarded-For names each simulated visitor.
      PALISADE_TRUSTED_PROXIES: '127.0.0.1,::1',
      PALISADE_IP_RATE_LIMIT: '0',
    },
  });
  [a, b] = await Promise.all([createTenant(p, 'noisy', [SHOP]), createTenant(p, 'quiet', [SHOP])]);
  // B's keys: 100 events/s, burst 400; each client network may spend a quarter of a browser key's.
  assert.equal((await p.admin('PATCH', `/admin/tenants/${b.tenant.id}/settings`, { rateLimit: { eventsPerSecond: 100, burst: 400 } })).status, 200);
  for (const t of [a, b]) {
    const g = await p.api('POST', '/v1/support-grants', { body: { duration: '1h', reason: 'read caps test' }, headers: bearer(t.keys.query) });
    assert.equal(g.status, 201, g.text);
  }
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

describe('read caps on every read route', () => {
  test('events land for both tenants (each ingest key under its budget)', async () => {
    await send(b, 50, 20);
    await send(a, A_EVENTS, 21);
    await waitFor(async () => {
      const r = await ROUTES[0]?.call(a);
      return (r?.body as { total?: number }).total === A_EVENTS || undefined;
    }, 60_000, "A's events to land");
  });

  test('rows to read: A gets 422 query_too_expensive on every route, B gets 200', async () => {
    assert.equal((await setQuery(a, { maxRowsToRead: 1_000 })).status, 200);
    for (const r of ROUTES) {
      if (r.name === 'GET /v1/audit') continue; // below: the audit log is small
      expectError(await r.call(a), 422, 'query_too_expensive', r.name);
      assert.equal((await r.call(b)).status, 200, `B on ${r.name}`);
    }
    assert.equal((await setQuery(a, { maxRowsToRead: 10 })).status, 200);
    const audit = ROUTES.find((r) => r.name === 'GET /v1/audit') as Route;
    expectError(await audit.call(a), 422, 'query_too_expensive', audit.name);
    assert.equal((await audit.call(b)).status, 200);
    assert.equal((await setQuery(a, null)).status, 200);
  });

  test('queries per minute: A gets 429 too_many_queries with Retry-After on every route, B gets 200', async () => {
    // A distinct rate per route: a changed cap starts a fresh bucket. The bucket refills one token
    // every 60/perMinute s, so the perMinute calls before the refusal must fit in that time. The two
    // exports stream all of A's 24,000 events (over a second each on a loaded machine: seven of them
    // outlasted 8.6 s), so they take the smallest caps, 2 and 3 (30 s and 20 s); the cheap reads take 4 to 7.
    const exportsFirst = [...ROUTES].sort((x, y) => Number(y.name.includes('export')) - Number(x.name.includes('export')));
    let perMinute = 2;
    for (const r of exportsFirst) {
      assert.equal((await setQuery(a, { queriesPerMinute: perMinute })).status, 200);
      for (let i = 0; i < perMinute; i++) assert.equal((await r.call(a)).status, 200, `${r.name} call ${i + 1}`);
      const refused = await r.call(a);
      expectError(refused, 429, 'too_many_queries', r.name);
      assert.ok(Number(refused.headers['retry-after']) >= 1, r.name);
      assert.equal((await r.call(b)).status, 200, `B on ${r.name}`);
      perMinute++;
    }
    assert.equal((await setQuery(a, null)).status, 200);
  });

  test('concurrency: while an unread export holds A\'s one read, every other read of A is 429 and B gets 200', async () => {
    assert.equal((await setQuery(a, { maxConcurrent: 1 })).status, 200);
    const ca = await readFile(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
    const agent = new Agent({ connect: { ca } });
    const held = await request(`https://localhost:${p.apiPort}/v1/export`, { headers: bearer(a.keys.query), dispatcher: agent });
    try {
      assert.equal(held.statusCode, 200);
      for (const r of ROUTES) {
        expectError(await r.call(a), 429, 'too_many_queries', r.name);
        assert.equal((await r.call(b)).status, 200, `B on ${r.name}`);
      }
    } finally {
      await held.body.dump({ limit: 0 }).catch(() => undefined);
      await agent.close();
    }
    // Cancelling the stream gave the read back.
    await waitFor(async () => (await ROUTES[0]?.call(a))?.status === 200 || undefined, 10_000, "A's read to be released");
    assert.equal((await setQuery(a, null)).status, 200);
  });

  test('an export in parts: every part ends with an end line, an unfinished one with a cursor the next part continues from', async () => {
    const lines = async (route: string) => {
      const r = await p.api('GET', route, { headers: bearer(a.keys.query) });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      return r.text.trim().split('\n').map((l) => JSON.parse(l) as { record: string; events?: number; complete?: boolean; next?: string; data?: { message_id: string } });
    };
    // A 1-second time cap bounds a call by time; each call still returns at least one page of 5,000.
    assert.equal((await setQuery(a, { timeoutSeconds: 1 })).status, 200);
    const seen = new Set<string>();
    let route = '/v1/export';
    let parts = 0;
    for (;;) {
      const part = await lines(route);
      parts++;
      for (const l of part) if (l.record === 'event' && l.data) seen.add(l.data.message_id);
      const end = part[part.length - 1];
      assert.equal(end?.record, 'end');
      if (end?.complete) break;
      assert.ok(end?.next, 'an unfinished part names where to continue');
      route = `/v1/export?after=${encodeURIComponent(end.next)}`;
      assert.ok(parts < 10, 'the export converges');
    }
    assert.equal(seen.size, A_EVENTS);
    expectError(await p.api('GET', '/v1/export?after=bm9wZQ', { headers: bearer(a.keys.query) }), 400, 'invalid_cursor', 'a forged cursor');
    assert.equal((await setQuery(a, null)).status, 200);
  });
});

describe("a browser key's budget per client network", () => {
  const track = (ip: string, n: number) =>
    p.api('POST', '/v1/batch', {
      body: { writeKey: b.keys.browser, batch: Array.from({ length: n }, (_, i) => ({ type: 'track', event: 'Visit', anonymousId: `v-${ip}-${i}` })) },
      headers: { origin: SHOP, 'x-forwarded-for': ip },
    });

  test('one address floods B\'s browser key and is refused; visitors from other networks keep getting 200', async () => {
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      // 100 events: the network's whole burst; each admitted batch leaves a 4 s debt at 25 events/s.
      const r = await track('198.51.100.7', 100);
      if (r.status === 429) {
        refused++;
        assert.match(String(r.headers['ratelimit-policy']), /key-network/);
      }
    }
    assert.ok(refused >= 15, `flood refusals: ${refused}`);
    for (let i = 1; i <= 5; i++) {
      const r = await track(`203.0.${113 + i}.5`, 20);
      assert.equal(r.status, 200, r.text);
      assert.match(String(r.headers.ratelimit), /"key-network";r=\d+/);
    }
  });
});
