/**
 * For any query the schema accepts, for any tenant:
 *   1. every table is read through the tenant filter, and the tenant bound is
 *      the credential's (a tenant in the body is refused by the schema);
 *   2. no string from the query appears in the SQL text (strings carrying a
 *      marker never show it in `sql`);
 *   3. the SQL text is a function of the query's shape alone: replacing every
 *      name and value with another gives byte-identical SQL, so no name or
 *      value, however crafted, can change what runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AppError } from '../errors/index.ts';
import { compile } from './compile.ts';
import { encodeCursor } from './cursor.ts';
import { FIELDS, OPS, Query, SOURCES } from './schema.ts';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const MARKER = 'ZQXJ';
const TABLE_RE = /\bFROM\s+(events|ingestion_warnings|dead_letters)\b/g;
const FILTERED_RE = /\bFROM (events|ingestion_warnings|dead_letters) WHERE tenant_id = \{tenant:String\}/g;

const tenantArb = fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'), minLength: 12, maxLength: 12 }).map((s) => `ten_${s}`);

const NASTY = ['tenant_id', '`', "'", '"', "') OR 1=1 --", '{tenant:String}', '{p0:String}', '\\', 'events', 'FROM events', 'tenаnt_id', 'SETTINGS readonly=0', ';', '*/', 'x'.repeat(300)];

/** Strings the schema accepts as names: no control characters, NFC, trimmed, no stray dots. */
function nameArb(marked: boolean): fc.Arbitrary<string> {
  const raw = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom(...NASTY));
  return fc
    .tuple(raw, raw)
    .map(([a, b]) => (marked ? `${a}${MARKER}${b}` : a))
    .map((s) => s.replace(/[\u0000-\u001F\u007F-\u009F]/g, '').normalize('NFC').trim().replace(/\.{2,}/g, '.').replace(/^\.+|\.+$/g, ''))
    .filter((s) => s.length > 0 && s.length <= 200 && s === s.normalize('NFC') && s.trim() === s && !s.startsWith('.') && !s.endsWith('.'));
}

function valueString(marked: boolean): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...NASTY)).map((s) => (marked ? `${s}${MARKER}` : s));
}

function queryArb(marked: boolean): fc.Arbitrary<Record<string, unknown>> {
  const name = nameArb(marked);
  const str = valueString(marked);
  const dimension = fc.oneof(
    fc.record({ property: name, source: fc.constantFrom(...SOURCES) }, { requiredKeys: ['property'] }),
    fc.record({ field: fc.constantFrom(...FIELDS) }),
  );
  const target = fc.oneof(fc.record({ property: name, source: fc.constantFrom(...SOURCES) }, { requiredKeys: ['property'] }), fc.record({ field: fc.constantFrom(...FIELDS) }));
  const opValue = fc.oneof(
    fc.record({ op: fc.constantFrom('is_set', 'is_not_set') }),
    fc.record({ op: fc.constantFrom('gt', 'gte', 'lt', 'lte'), value: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ op: fc.constantFrom('contains', 'not_contains'), value: str.filter((s) => s.length > 0) }),
    fc.record({ op: fc.constantFrom('in', 'not_in'), value: fc.array(str, { minLength: 1, maxLength: 4 }) }),
    fc.record({ op: fc.constantFrom('eq', 'neq'), value: fc.oneof(str, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()) }),
  );
  const filter = fc.tuple(target, opValue).map(([t, o]) => ({ ...t, ...o }));
  const common = fc.record(
    {
      from: fc.constantFrom('-1h', '-1d', '-7d', '-30d', '2026-10-01T00:00:00Z'),
      to: fc.constantFrom('now', '-1m', '2026-11-24T00:00:00Z'),
      timezone: fc.constantFrom('UTC', 'Europe/Paris', 'Asia/Kolkata', 'America/New_York'),
      events: fc.array(name, { maxLength: 3 }),
      filters: fc.array(filter, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );
  const measure = fc.constantFrom('events', 'users');
  const kinds = fc.oneof(
    fc.record({ kind: fc.constant('trend'), measure, interval: fc.constantFrom('hour', 'day', 'week', 'month'), breakdown: dimension, limit: fc.integer({ min: 1, max: 50 }) }, { requiredKeys: ['kind'] }),
    fc.record({ kind: fc.constant('top'), by: dimension, measure, limit: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: ['kind', 'by'] }),
    fc.record({
      kind: fc.constant('funnel'),
      steps: fc.array(fc.record({ event: name, filters: fc.array(filter, { maxLength: 2 }) }, { requiredKeys: ['event'] }), { minLength: 2, maxLength: 4 }),
      windowSeconds: fc.integer({ min: 1, max: 90 * 86_400 }),
      order: fc.constantFrom('any', 'strict'),
    }, { requiredKeys: ['kind', 'steps'] }),
    fc.record({ kind: fc.constant('events'), limit: fc.integer({ min: 1, max: 200 }), cursor: str }, { requiredKeys: ['kind'] }),
  );
  const simple = fc.oneof(
    fc.record({ kind: fc.constant('warnings'), source: fc.constantFrom('all', 'warnings', 'dead_letters'), limit: fc.integer({ min: 1, max: 500 }) }, { requiredKeys: ['kind'] }),
    fc.record({ kind: fc.constant('schema') }),
  );
  return fc.oneof({ arbitrary: fc.tuple(kinds, common).map(([k, c]) => ({ ...c, ...k })), weight: 5 }, { arbitrary: simple, weight: 1 });
}

/** An events query's cursor is the one this tenant was issued, carrying a generated message id. */
function withCursor(q: Record<string, unknown>, tenantId: string): Record<string, unknown> {
  if (q.kind !== 'events' || typeof q.cursor !== 'string') return q;
  const messageId = q.cursor.slice(0, 128) || 'm';
  return { ...q, cursor: encodeCursor({ ts: '2026-11-20 10:00:00.000', messageId }, tenantId) };
}

/** Every name and value replaced by a fixed one of the same type; the shape (kinds, fields, ops, lengths) kept. */
function canonical(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => canonical(x, key === 'events' ? 'event' : key === 'value' ? 'value' : key));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canonical(x, k)]));
  if (typeof v !== 'string') return key === 'value' && typeof v === 'number' ? 1 : v;
  switch (key) {
    case 'property':
      return 'p';
    case 'event':
      return 'e';
    case 'value':
      return 'v';
    case 'timezone':
      return 'UTC';
    case 'from':
      return '-1d';
    case 'to':
      return 'now';
    default:
      return v;
  }
}

function compiled(input: Record<string, unknown>, tenantId: string) {
  const parsed = Query.safeParse(input);
  if (!parsed.success) return undefined;
  try {
    return compile(parsed.data, { tenantId, now: NOW });
  } catch (err) {
    // A range the compiler refuses (to before from, too many buckets) or a foreign cursor: no SQL at all.
    assert.ok(err instanceof AppError, `compile threw something other than AppError: ${String(err)}`);
    return undefined;
  }
}

function assertTenantBound(sql: string, params: Record<string, unknown>, tenantId: string): void {
  const tables = sql.match(TABLE_RE) ?? [];
  assert.ok(tables.length >= 1, sql);
  assert.equal((sql.match(FILTERED_RE) ?? []).length, tables.length, `a table read without the tenant filter:\n${sql}`);
  assert.equal((sql.match(/tenant_id/g) ?? []).length, tables.length, `tenant_id used other than in the filter:\n${sql}`);
  assert.equal(params.tenant, tenantId);
  assert.ok(!/\bJOIN\b/.test(sql.replace(/\bARRAY JOIN\b/g, '')), 'no joins');
}

test('property: every table read is tenant-filtered and no marked string reaches the SQL', () => {
  let checked = 0;
  fc.assert(
    fc.property(queryArb(true), tenantArb, (raw, tenantId) => {
      const input = withCursor(raw, tenantId);
      const out = compiled(input, tenantId);
      if (!out) return;
      checked++;
      assertTenantBound(out.sql, out.params, tenantId);
      assert.ok(!out.sql.includes(MARKER), `a user string reached the SQL:\n${out.sql}`);
      // Every user parameter is named pN: none can shadow the tenant.
      for (const name of Object.keys(out.params)) assert.ok(name === 'tenant' || /^p\d+$/.test(name));
    }),
    { numRuns: 400 },
  );
  assert.ok(checked > 200, `only ${checked} generated queries were valid`);
});

test('property: the SQL text depends only on the query shape, never on its names and values', () => {
  let checked = 0;
  fc.assert(
    fc.property(queryArb(false), tenantArb, (raw, tenantId) => {
      const input = withCursor(raw, tenantId);
      const out = compiled(input, tenantId);
      if (!out) return;
      const base = compiled(withCursor(canonical(raw) as Record<string, unknown>, tenantId), tenantId);
      if (!base) return;
      checked++;
      assertTenantBound(out.sql, out.params, tenantId);
      assert.equal(out.sql, base.sql);
    }),
    { numRuns: 400 },
  );
  assert.ok(checked > 200, `only ${checked} generated queries were valid`);
});

test('the schema refuses a tenant anywhere in the query', () => {
  for (const body of [
    { kind: 'trend', tenant_id: 'ten_x' },
    { kind: 'trend', tenantId: 'ten_x' },
    { kind: 'top', by: { field: 'event', tenant_id: 'ten_x' } },
    { kind: 'trend', filters: [{ field: 'event', op: 'eq', value: 'x', tenant: 'ten_x' }] },
    { kind: 'top', by: { field: 'tenant_id' } },
  ]) {
    assert.equal(Query.safeParse(body).success, false, JSON.stringify(body));
  }
  assert.ok(OPS.length > 0);
});
