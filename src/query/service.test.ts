/**
 * Every query kind against the real engine (chDB in this process) over a
 * hand-countable data set: the numbers are the ones a person gets by
 * counting the fixture rows, a retried event counts once, tenant B's canary
 * never shows up in tenant A's answers, and the node's limits come back as
 * their own 4xx codes.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { CANARY, loadFixtures, NOW, TENANT_A, TENANT_B } from '../../test/helpers/query-fixtures.ts';
import type { Principal } from '../auth/authenticator.ts';
import { AppError } from '../errors/index.ts';
import type { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { WarehouseError } from '../storage/warehouse.ts';
import type { FilterInput, QueryInput } from './schema.ts';
import { limitError, QueryService, type QueryLimits } from './service.ts';

let wh: ChdbWarehouse;

const LIMITS: QueryLimits = {
  timeoutMs: 10_000,
  maxRowsToRead: 10_000_000,
  maxResultRows: 100_000,
  maxResultBytes: 64 << 20,
  maxMemoryBytes: 1 << 30,
  maxThreads: 2,
  maxConcurrent: 2,
  maxPerTenant: 8,
  maxQueued: 64,
  tenantSetting: '',
};
const A: Principal = { tenantId: TENANT_A, keyId: 'keyA', scope: 'query' };
const B: Principal = { tenantId: TENANT_B, keyId: 'keyB', scope: 'query' };

function service(limits: Partial<QueryLimits> = {}): QueryService {
  return new QueryService({ warehouse: wh, limits: { ...LIMITS, ...limits }, now: () => NOW });
}

async function run<T = Record<string, unknown>>(q: QueryInput, who: Principal = A, s = service()): Promise<T> {
  const out = await s.run(who, q);
  const text = JSON.stringify(out.result);
  if (who === A) assert.ok(!text.includes(CANARY), `tenant B's canary leaked into ${q.kind}: ${text}`);
  return out.result as T;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return err.code;
  }
}

const engine = fileEngine('palisade-query-');
before(async () => {
  wh = await engine.open();
  await loadFixtures(wh);
});

describe('trend', () => {
  test('daily event counts fill every day of the range and count a retried event once', async () => {
    const r = await run<{ buckets: string[]; total: number; series: { key: null; values: number[]; total: number }[]; other: null }>({ kind: 'trend', from: '-7d', interval: 'day' });
    assert.deepEqual(r.buckets, ['2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23', '2026-11-24']);
    assert.equal(r.total, 8, 'm1..m8, with m2 stored twice');
    assert.deepEqual(r.series, [{ key: null, total: 8, values: [0, 0, 0, 0, 0, 3, 2, 3] }]);
    assert.equal(r.other, null);
  });

  test('unique users by userId, else anonymousId', async () => {
    const r = await run<{ total: number; series: { values: number[] }[] }>({ kind: 'trend', from: '-3d', measure: 'users' });
    assert.equal(r.total, 4, 'u1, u2, a3, u3');
    assert.deepEqual(r.series[0]?.values, [0, 1, 1, 3]);
  });

  test('hourly buckets in a time zone with a half-hour offset', async () => {
    const r = await run<{ buckets: string[]; total: number; series: { values: number[] }[] }>({
      kind: 'trend', from: '2026-11-22T09:30:00Z', to: '2026-11-22T12:30:00Z', interval: 'hour', timezone: 'Asia/Kolkata',
    });
    // 09:30Z is 15:00 in Kolkata (UTC+5:30); the three events fall at 15:30, 15:35 and 16:30.
    assert.deepEqual(r.buckets, ['2026-11-22 15:00:00', '2026-11-22 16:00:00', '2026-11-22 17:00:00']);
    assert.deepEqual(r.series[0]?.values, [2, 1, 0]);
  });

  test('breakdown by event: top N series, the rest as other, per-series totals', async () => {
    const r = await run<{ total: number; series: { key: string | null; total: number }[]; other: { total: number } }>({ kind: 'trend', from: '-7d', breakdown: { field: 'event' }, limit: 2 });
    assert.equal(r.total, 8);
    assert.deepEqual(r.series.map((s) => [s.key, s.total]), [['Home', 2], ['Purchased', 2]]);
    assert.equal(r.other.total, 4, 'Signed Up 2 + Docs 1 + identify (no name) 1');
  });

  test('breakdown by a property keeps "not set" as its own series', async () => {
    const r = await run<{ series: { key: string | null; total: number }[]; other: null }>({ kind: 'trend', from: '-7d', breakdown: { property: 'plan' }, limit: 5 });
    assert.deepEqual(r.series.map((s) => [s.key, s.total]), [[null, 4], ['free', 2], ['pro', 2]]);
    assert.equal(r.other, null);
  });

  test('weekly and monthly buckets start on Monday and on the 1st', async () => {
    const w = await run<{ buckets: string[] }>({ kind: 'trend', from: '-14d', interval: 'week' });
    assert.deepEqual(w.buckets, ['2026-11-09', '2026-11-16', '2026-11-23']);
    const m = await run<{ buckets: string[]; series: { values: number[] }[] }>({ kind: 'trend', from: '-60d', interval: 'month' });
    assert.deepEqual(m.buckets, ['2026-09-01', '2026-10-01', '2026-11-01']);
    assert.deepEqual(m.series[0]?.values, [0, 0, 8]);
  });
});

describe('filters', () => {
  const count = async (filters: FilterInput[]) => (await run<{ total: number }>({ kind: 'trend', from: '-7d', filters })).total;

  test('eq, neq (includes not set), contains (case-insensitive), numbers, is set, in', async () => {
    assert.equal(await count([{ property: 'plan', op: 'eq', value: 'pro' }]), 2);
    assert.equal(await count([{ property: 'plan', op: 'neq', value: 'pro' }]), 6);
    assert.equal(await count([{ property: 'plan', op: 'contains', value: 'PR' }]), 2);
    assert.equal(await count([{ property: 'plan', op: 'not_contains', value: 'PR' }]), 6);
    assert.equal(await count([{ property: 'price', op: 'gt', value: 10 }]), 1);
    assert.equal(await count([{ property: 'price', op: 'lte', value: 0 }]), 1);
    assert.equal(await count([{ property: 'price', op: 'eq', value: 49 }]), 1);
    assert.equal(await count([{ property: 'plan', op: 'is_set' }]), 4);
    assert.equal(await count([{ property: 'plan', op: 'is_not_set' }]), 4);
    assert.equal(await count([{ property: 'plan', op: 'in', value: ['pro', 'free'] }]), 4);
    assert.equal(await count([{ property: 'plan', op: 'not_in', value: ['pro'] }]), 6);
  });

  test('fields: event type, user, page path from properties or context, UTM from context or the URL', async () => {
    assert.equal(await count([{ field: 'type', op: 'eq', value: 'page' }]), 3);
    assert.equal(await count([{ field: 'user', op: 'eq', value: 'u1' }]), 3);
    assert.equal(await count([{ field: 'page_path', op: 'eq', value: '/' }]), 2);
    assert.equal(await count([{ field: 'utm_source', op: 'eq', value: 'google' }]), 1);
    assert.equal(await count([{ field: 'utm_source', op: 'eq', value: 'hn' }]), 1);
    assert.equal(await count([{ field: 'utm_medium', op: 'eq', value: 'social' }]), 1);
    assert.equal(await count([{ field: 'user_id', op: 'is_not_set' }]), 1);
  });

  test('event names select events; several filters all apply', async () => {
    const r = await run<{ total: number }>({ kind: 'trend', from: '-7d', events: ['Signed Up', 'Purchased'], filters: [{ property: 'plan', op: 'eq', value: 'free' }] });
    assert.equal(r.total, 2);
  });
});

describe('top, funnel, events, warnings, schema', () => {
  test('top pages, referrers and events with shares', async () => {
    const pages = await run<{ total: number; rows: { value: string; count: number; share: number }[] }>({ kind: 'top', from: '-7d', by: { field: 'page_path' }, filters: [{ field: 'type', op: 'eq', value: 'page' }] });
    assert.equal(pages.total, 3);
    assert.deepEqual(pages.rows.map((r) => [r.value, r.count]), [['/', 2], ['/docs', 1]]);
    assert.ok(Math.abs((pages.rows[0]?.share ?? 0) - 2 / 3) < 1e-9);
    const refs = await run<{ rows: { value: string; count: number }[] }>({ kind: 'top', from: '-7d', by: { field: 'referring_domain' } });
    assert.deepEqual(refs.rows.map((r) => [r.value, r.count]), [['google.com', 1], ['news.ycombinator.com', 1]]);
    const events = await run<{ total: number; rows: { value: string; count: number }[] }>({ kind: 'top', from: '-7d', by: { field: 'event' }, limit: 2 });
    assert.equal(events.total, 7, 'named events only; the identify call has no name');
    assert.deepEqual(events.rows.map((r) => [r.value, r.count]), [['Home', 2], ['Purchased', 2]]);
    const users = await run<{ rows: { value: string; count: number }[] }>({ kind: 'top', from: '-7d', by: { property: 'plan' }, measure: 'users' });
    assert.deepEqual(users.rows.map((r) => [r.value, r.count]), [['free', 1], ['pro', 1]]);
  });

  test('a funnel counts each user once per step within the window', async () => {
    const r = await run<{ steps: { step: number; count: number; conversion: number; stepConversion: number }[] }>({
      kind: 'funnel', from: '-7d', steps: [{ event: 'Home' }, { event: 'Signed Up' }, { event: 'Purchased' }], windowSeconds: 86_400,
    });
    assert.deepEqual(r.steps.map((s) => [s.step, s.count]), [[1, 2], [2, 2], [3, 1]]);
    assert.equal(r.steps[2]?.conversion, 0.5);
    const wide = await run<{ steps: { count: number }[] }>({ kind: 'funnel', from: '-7d', steps: [{ event: 'Home' }, { event: 'Signed Up' }, { event: 'Purchased' }], windowSeconds: 2 * 86_400 });
    assert.deepEqual(wide.steps.map((s) => s.count), [2, 2, 2]);
    const filtered = await run<{ steps: { count: number }[] }>({ kind: 'funnel', from: '-7d', steps: [{ event: 'Signed Up', filters: [{ property: 'plan', op: 'eq', value: 'pro' }] }, { event: 'Purchased' }] });
    assert.deepEqual(filtered.steps.map((s) => s.count), [1, 1]);
  });

  test('the event list pages newest first with a cursor and shows a retried event once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await run<{ events: { messageId: string; properties: object }[]; nextCursor: string | null }>({ kind: 'events', limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...r.events.map((e) => e.messageId));
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    assert.deepEqual(seen, ['m8', 'm7', 'm6', 'm5', 'm4', 'm3', 'm2', 'm1']);
    const first = await run<{ events: { messageId: string; properties: object; timestamp: string }[] }>({ kind: 'events', limit: 1, events: ['Purchased'] });
    assert.deepEqual(first.events[0]?.properties, { plan: 'free', price: 0 });
    assert.equal(first.events[0]?.timestamp, '2026-11-24T09:30:00.000Z');
  });

  test("another tenant's cursor is refused", async () => {
    const b = await run<{ nextCursor: string }>({ kind: 'events', limit: 1 }, B);
    assert.ok(b.nextCursor);
    assert.equal(await code(service().run(A, { kind: 'events', cursor: b.nextCursor })), 'invalid_cursor');
    assert.equal(await code(service().run(A, { kind: 'events', cursor: 'bm90LWEtY3Vyc29y' })), 'invalid_cursor');
  });

  test('warnings and dead letters, newest first, only the tenant\'s own', async () => {
    const r = await run<{ items: { source: string; code: string; messageId: string; row?: string; index?: number }[] }>({ kind: 'warnings' });
    assert.deepEqual(r.items.map((i) => [i.source, i.code, i.messageId]), [['dead_letter', 'guard_violation', 'd1'], ['warning', 'too_deep', 'w1']]);
    assert.equal(r.items[0]?.row, '{"event":"x"}');
    assert.equal(r.items[1]?.index, 2);
    const only = await run<{ items: unknown[] }>({ kind: 'warnings', source: 'warnings' });
    assert.equal(only.items.length, 1);
  });

  test('schema lists event names and property keys', async () => {
    const r = await run<{ events: { name: string; count: number }[]; properties: { name: string }[] }>({ kind: 'schema', from: '-7d' });
    assert.deepEqual(r.events.map((e) => [e.name, e.count]), [['Home', 2], ['Purchased', 2], ['Signed Up', 2], ['Docs', 1]]);
    assert.deepEqual(r.properties.map((p) => p.name).sort(), ['path', 'plan', 'price', 'referrer']);
  });
});

describe('validation and limits', () => {
  test('a tenant in the body, unknown fields, bad names and ranges are invalid_query', async () => {
    const s = service();
    assert.equal(await code(s.run(A, { kind: 'trend', tenant_id: TENANT_B })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', tenantId: TENANT_B })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'sql', sql: 'SELECT 1' })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'top', by: { property: 'x'.repeat(10_000) } })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'top', by: { property: 'a\u0000b' } })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', from: '-3000d' })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', from: '-90d', interval: 'hour' })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', from: 'now', to: '-1d' })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', timezone: 'Mars/Olympus' })), 'invalid_query');
    assert.equal(await code(s.run(A, { kind: 'trend', filters: [{ property: 'x', op: 'gt', value: 'ten' }] })), 'invalid_query');
    assert.equal(await code(s.run({ ...A, scope: 'ingest' }, { kind: 'trend' })), 'wrong_scope');
    try {
      await s.run(A, { kind: 'trend', tenant_id: CANARY });
    } catch (err) {
      assert.match((err as Error).message, /tenant comes from the credential/);
      assert.ok(!(err as Error).message.includes(CANARY), 'the message never echoes the request');
    }
  });

  test('names crafted as SQL or identifiers are just names: they match nothing and break nothing', async () => {
    for (const property of ['`tenant_id`', "') OR 1=1 --", 'tenant_id', 'x\'); DROP TABLE events; --', '{tenant:String}', 'tenаnt_id', 'properties.marker']) {
      const r = await run<{ total: number }>({ kind: 'top', from: '-7d', by: { property } });
      assert.equal(r.total, 0, property);
      const f = await run<{ total: number }>({ kind: 'trend', from: '-7d', filters: [{ property, op: 'eq', value: "' OR '1'='1" }] });
      assert.equal(f.total, 0, property);
    }
  });

  test('over the rows-to-read cap: query_too_expensive; over the result cap: result_too_large', async () => {
    assert.equal(await code(service({ maxRowsToRead: 3 }).run(A, { kind: 'trend', from: '-7d' })), 'query_too_expensive');
    assert.equal(await code(service({ maxResultRows: 2 }).run(A, { kind: 'events', limit: 5 })), 'result_too_large');
  });

  test('engine limit codes map to their own errors', () => {
    const e = (code: number) => limitError(new WarehouseError('x', 'limit', code)).code;
    assert.equal(e(159), 'query_timeout');
    assert.equal(e(396), 'result_too_large');
    assert.equal(e(158), 'query_too_expensive');
    assert.equal(e(241), 'query_too_expensive');
  });

  test('per-tenant concurrency: the query over the cap is a 429, other tenants unaffected', async () => {
    const s = service({ maxPerTenant: 1 });
    const [first, second, other] = await Promise.all([code(s.run(A, { kind: 'trend' })), code(s.run(A, { kind: 'trend' })), code(s.run(B, { kind: 'trend' }))]);
    assert.deepEqual([first, second, other], ['ok', 'too_many_queries', 'ok']);
  });

  test('tenant caps: concurrency, rows to read, time and queries per minute lower the node limits for that tenant only', async () => {
    let ms = 0;
    const caps = { maxConcurrent: 1, maxRowsToRead: 1, timeoutSeconds: 3, queriesPerMinute: 3 };
    const s = new QueryService({ warehouse: wh, limits: LIMITS, now: () => NOW, caps: (id) => (id === TENANT_A ? caps : null), clockMs: () => ms });
    assert.deepEqual([s.settings(TENANT_A).max_execution_time, s.settings(TENANT_A).max_rows_to_read], [3, 1]);
    assert.deepEqual([s.settings(TENANT_B).max_execution_time, s.settings(TENANT_B).max_rows_to_read], [10, 10_000_000]);
    assert.equal(await code(s.run(A, { kind: 'trend' })), 'query_too_expensive');
    caps.maxRowsToRead = 1_000;
    const [first, second, other] = await Promise.all([code(s.run(A, { kind: 'trend' })), code(s.run(A, { kind: 'trend' })), code(s.run(B, { kind: 'trend' }))]);
    assert.deepEqual([first, second, other], ['ok', 'too_many_queries', 'ok'], 'the second is over maxConcurrent 1');
    // Three tokens a minute, all three spent (the concurrency refusal was charged too): refused until 20 s refill one.
    const refused = await s.run(A, { kind: 'trend' }).catch((e: unknown) => e);
    assert.ok(refused instanceof AppError && refused.code === 'too_many_queries' && refused.retryAfter === 20, String(refused));
    assert.equal(await code(s.run(A, { kind: 'bogus' })), 'invalid_query', 'an invalid query is not charged nor refused by the bucket');
    ms = 20_000;
    assert.equal(await code(s.run(A, { kind: 'trend' })), 'ok');
    for (let i = 0; i < 5; i++) assert.equal(await code(s.run(B, { kind: 'trend' })), 'ok');
  });

  test('openRead: a read outside the query API is charged, held, capped and read-only like a query', async () => {
    let ms = 0;
    const caps = { maxConcurrent: 1, maxRowsToRead: 1_000, queriesPerMinute: 2 };
    const s = new QueryService({ warehouse: wh, limits: LIMITS, now: () => NOW, caps: (id) => (id === TENANT_A ? caps : null), clockMs: () => ms });
    const read = s.openRead(TENANT_A, 'bulk');
    assert.equal(await code(s.run(A, { kind: 'trend' })), 'too_many_queries', 'the open read holds the one concurrent read');
    const rows = await read.warehouse.query<{ n: number }>('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { params: { t: TENANT_A } });
    assert.ok((rows[0]?.n ?? 0) > 0);
    await assert.rejects(read.warehouse.command('DROP TABLE events'), /cannot write/);
    await assert.rejects(read.warehouse.query('SELECT count() FROM numbers(100000)'), (err: unknown) => err instanceof AppError && err.code === 'query_too_expensive');
    read.release();
    read.release(); // idempotent: a stream's end and its cancel may both release
    assert.equal(await code(s.run(B, { kind: 'trend' })), 'ok');
    // The read and the refused query spent both tokens: the next read is refused before it opens.
    assert.throws(() => s.openRead(TENANT_A), (err: unknown) => err instanceof AppError && err.code === 'too_many_queries');
    ms = 30_000;
    s.openRead(TENANT_A).release();
  });

  test('a yielding read (the bulk lane) runs on one engine thread at priority 2; a dashboard read keeps its threads and priority 1', async () => {
    const seen: { sql: string; settings: Record<string, unknown> }[] = [];
    // The real engine runs every statement (it must accept the settings); the spy only records them.
    const spy = Object.assign(Object.create(wh) as ChdbWarehouse, {
      query: (sql: string, o: { settings?: Record<string, unknown> } = {}) => {
        seen.push({ sql, settings: o.settings ?? {} });
        return wh.query(sql, o as never);
      },
    });
    const s = new QueryService({ warehouse: spy, limits: LIMITS, now: () => NOW });
    const bulk = s.openRead(TENANT_A, 'bulk');
    await bulk.warehouse.query('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { params: { t: TENANT_A } });
    bulk.release();
    await s.run(A, { kind: 'trend' });
    const [exported, dashboard] = [seen[0]?.settings, seen.at(-1)?.settings];
    assert.deepEqual([exported?.priority, exported?.max_threads], [2, 1]);
    assert.deepEqual([dashboard?.priority, dashboard?.max_threads], [1, LIMITS.maxThreads]);
    assert.equal(Object.keys(exported ?? {}).at(-1), 'readonly', 'readonly stays last');
  });

  test('queries run readonly', () => {
    const settings = service().settings(TENANT_A);
    assert.equal(Object.keys(settings).at(-1), 'readonly');
    assert.equal(settings.readonly, 1);
    assert.equal(settings.result_overflow_mode, 'throw');
  });
});
