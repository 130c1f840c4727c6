/**
 * Hostile input at scale, as properties (fast-check): for any input,
 *   - the body reader/decompressor returns JSON or a 4xx AppError, nothing
 *     else, and never inflates past its cap (a bomb costs bounded memory);
 *   - validator + sanitiser + the tenant's privacy rules never throw anything
 *     but a 4xx AppError, and every stored row is free of control characters,
 *     lone surrogates and forbidden keys, honours the rules (no raw value at a
 *     dropped or hashed path, no e-mail address left when scrubbing), passes
 *     the storage guard, and stays within a fixed multiple of the event cap;
 *   - the query compiler, fed arbitrary JSON rather than schema-shaped
 *     queries (compile.property.test.ts covers those), either refuses it or
 *     emits SQL in which every value is a bound parameter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { EventRow, JsonValue } from '../schemas/event-row.ts';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../schemas/tenant-settings.ts';
import { AppError } from '../src/errors/index.ts';
import { readJsonBody } from '../src/http/body.ts';
import { ingestBody, type IngestContext } from '../src/ingest/pipeline.ts';
import { compile } from '../src/query/compile.ts';
import { FIELDS, Query, SOURCES } from '../src/query/schema.ts';
import { guardRows } from '../src/storage/event-writer.ts';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const EMAIL = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+/;

const hostileUnit = fc.oneof(
  fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\uD800', '\uDFFF', 'e\u0301', '.', '@', "'", '"', '\\', '{', '}', ';', '`', '-'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom(...'abcxyz019 '),
);
const hostileString = fc.oneof(
  fc.string({ unit: hostileUnit, maxLength: 60 }),
  fc.constantFrom("'; DROP TABLE events; --", '{tenant:String}', 'x@evil.example', '4111 1111 1111 1111', '__proto__', '${7*7}', '<script>alert(1)</script>', "') OR 1=1 --"),
);
const key = fc.oneof(
  { arbitrary: fc.constantFrom('email', 'ssn', 'user', 'a.b', 'a', 'traits', 'ip', 'consent', 'categoryPreferences', 'Analytics'), weight: 5 },
  { arbitrary: fc.string({ unit: hostileUnit, minLength: 1, maxLength: 10 }), weight: 5 },
  { arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'tenant_id'), weight: 1 },
);
const json: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(key, tie('v'), { maxKeys: 5 }),
  ) as fc.Arbitrary<JsonValue>,
})).v;
// Through JSON text, as a body arrives (`__proto__` becomes an own key).
const viaJson = <T>(a: fc.Arbitrary<T>) => a.map((v) => JSON.parse(JSON.stringify(v)) as unknown);

const settingsArb: fc.Arbitrary<TenantSettings> = fc.record({
  ipPolicy: fc.constantFrom('full', 'truncate', 'drop'),
  piiDrop: fc.subarray(['properties.email', 'traits.ssn', 'properties.a.b', 'context.*.email', 'traits.user']),
  piiHash: fc.subarray(['properties.user', 'traits.email', 'properties.a', 'context.ip']),
  scrubPii: fc.boolean(),
  botPolicy: fc.constantFrom('flag', 'drop'),
  consentPolicy: fc.constantFrom('honour', 'ignore'),
  dntPolicy: fc.constantFrom('honour', 'ignore'),
  revokeOnPlainHttp: fc.constant(false),
  rateLimit: fc.constant(null),
}) as fc.Arbitrary<TenantSettings>;

const LIMITS: IngestContext['limits'] = {
  maxEventBytes: 32 * 1024,
  maxBodyBytes: 500 * 1024,
  maxDecompressedBytes: 1024 * 1024,
  maxBatchEvents: 20,
  maxProperties: 60,
  maxStringLength: 256,
  maxDepth: 5,
};

function walk(v: unknown, visit: (s: string, isKey: boolean) => void): void {
  if (typeof v === 'string') visit(v, false);
  else if (Array.isArray(v)) v.forEach((x) => walk(x, visit));
  else if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) {
      visit(k, true);
      walk((v as Record<string, unknown>)[k], visit);
    }
  }
}

function at(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

test('the body reader: JSON or a 4xx AppError for any bytes and any encoding, and bounded inflation', async () => {
  const limits = { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 256 * 1024 };
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((b) => ({ bytes: Buffer.from(b), encoding: fc.sample(fc.constantFrom('', 'gzip', 'deflate', 'br', 'identity', 'GZIP '), 1)[0] ?? '' })),
    viaJson(json).map((v) => ({ bytes: gzipSync(JSON.stringify(v) ?? 'null'), encoding: 'gzip' })),
    viaJson(json).map((v) => ({ bytes: deflateSync(JSON.stringify(v) ?? 'null'), encoding: 'deflate' })),
    fc.integer({ min: 1, max: 40 }).map((mb) => ({ bytes: gzipSync(Buffer.alloc(mb * 1024 * 1024, 0x20)), encoding: 'gzip' })),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(100)).map(([b, cut]) => {
      const g = gzipSync(Buffer.from(b));
      return { bytes: g.subarray(0, Math.max(1, g.length - cut)), encoding: 'gzip' };
    }),
  );
  await fc.assert(
    fc.asyncProperty(body, async ({ bytes, encoding }) => {
      const req = new Request('https://x/v1/batch', { method: 'POST', body: bytes, headers: encoding ? { 'content-encoding': encoding } : {} });
      try {
        const out = await readJsonBody(req, limits);
        // What came back was at most the cap once serialised (JSON.stringify never grows a parsed text).
        assert.ok(Buffer.byteLength(JSON.stringify(out) ?? '') <= limits.maxDecompressedBytes);
      } catch (err) {
        assert.ok(err instanceof AppError, `not an AppError: ${String(err)}`);
        assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
      }
    }),
    { numRuns: Math.max(100, Math.floor(RUNS / 2)) },
  );
});

test('a 200 MB gzip bomb costs bounded memory', async () => {
  const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
  globalThis.gc?.();
  const before = process.memoryUsage();
  let peak = 0;
  for (let i = 0; i < 5; i++) {
    await assert.rejects(readJsonBody(new Request('https://x/', { method: 'POST', body: bomb, headers: { 'content-encoding': 'gzip' } }), { maxBodyBytes: 500 * 1024, maxDecompressedBytes: 1024 * 1024 }), (e: Error) => e instanceof AppError && e.status === 413);
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss - before.rss, m.arrayBuffers - before.arrayBuffers);
  }
  assert.ok(peak < 64 * 1024 * 1024, `grew ${Math.round(peak / 1048576)} MB`);
});

test('validator + sanitiser + privacy rules: any body gives a 4xx or clean rows that honour the rules', () => {
  const base = {
    userId: fc.oneof({ arbitrary: fc.constant('u1'), weight: 3 }, { arbitrary: hostileString, weight: 1 }),
    messageId: hostileString,
    timestamp: fc.oneof({ arbitrary: fc.constant('2026-11-24T10:00:00Z'), weight: 4 }, { arbitrary: hostileString, weight: 1 }),
    context: fc.oneof(
      { arbitrary: fc.dictionary(key, json, { maxKeys: 6 }), weight: 6 },
      { arbitrary: fc.constant({ consent: { categoryPreferences: { Analytics: false } } }), weight: 1 },
      { arbitrary: fc.constant({ userAgent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' }), weight: 1 },
    ),
  };
  const opt = (extra: string[]) => ({ requiredKeys: ['type', 'userId', ...extra] as never[] });
  // Mostly valid envelopes of each type, so the trees inside are what gets exercised.
  const event = fc.oneof(
    { arbitrary: fc.record({ type: fc.constant('track'), event: fc.oneof(fc.constant('Signed Up'), hostileString), properties: fc.dictionary(key, json, { maxKeys: 8 }), ...base }, opt(['event'])), weight: 5 },
    { arbitrary: fc.record({ type: fc.constant('identify'), traits: fc.dictionary(key, json, { maxKeys: 8 }), ...base }, opt([])), weight: 3 },
    { arbitrary: fc.record({ type: fc.constant('page'), name: hostileString, properties: fc.dictionary(key, json, { maxKeys: 8 }), ...base }, opt([])), weight: 2 },
    { arbitrary: fc.dictionary(key, json, { maxKeys: 6 }), weight: 1 },
  );
  let stored = 0;
  const bodyArb = viaJson(fc.oneof({ arbitrary: fc.record({ batch: fc.array(event, { maxLength: 6 }) }), weight: 8 }, { arbitrary: json, weight: 1 }));
  fc.assert(
    fc.property(bodyArb, settingsArb, fc.boolean(), (body, settings, dnt) => {
      const ctx: IngestContext = {
        tenantId: 'ten_AAAAAAAAAAAA', keyId: 'k1', requestId: 'r', receivedAt: new Date('2026-11-24T12:00:00Z'), ip: '203.0.113.9', userAgent: '', limits: LIMITS,
        privacy: { settings, hashKey: Buffer.alloc(32, 1), doNotTrack: dnt, browser: false },
      };
      let rows: EventRow[];
      try {
        rows = ingestBody('batch', body, ctx).rows;
        stored += rows.length;
      } catch (err) {
        assert.ok(err instanceof AppError && err.status < 500, String(err));
        return;
      }
      guardRows(ctx.tenantId, rows);
      for (const r of rows) {
        walk(r, (s, isKey) => {
          assert.ok(!CONTROL.test(s), `control character in ${isKey ? 'key' : 'value'}`);
          assert.ok(!LONE_SURROGATE.test(s));
          if (isKey) assert.ok(!FORBIDDEN.has(s), `forbidden key ${s}`);
        });
        assert.ok(Buffer.byteLength(JSON.stringify(r)) <= 3 * LIMITS.maxEventBytes + 4096);
        if (settings.ipPolicy === 'drop') assert.equal(r.ip, '');
        if (settings.ipPolicy === 'truncate') assert.equal(r.ip, '203.0.113.0');
        if (settings.dntPolicy === 'honour') assert.equal(dnt, false, 'a DNT request stored nothing');
        for (const p of settings.piiDrop.filter((x) => !x.includes('*'))) {
          const [tree, ...path] = p.split('.');
          assert.equal(at(r[tree as 'properties'], path), undefined, `dropped ${p} is there`);
        }
        for (const p of settings.piiHash) {
          const [tree, ...path] = p.split('.');
          const v = at(r[tree as 'properties'], path);
          if (v !== undefined && (typeof v !== 'object' || v === null)) assert.match(String(v), /^[0-9a-f]{64}$/, `hashed ${p}`);
        }
        if (settings.scrubPii) {
          for (const tree of [r.properties, r.traits, r.context]) walk(tree, (s, isKey) => !isKey && assert.ok(!EMAIL.test(s), 'an e-mail address survived the scrubber'));
        }
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(stored > RUNS / 4, `only ${stored} rows stored over ${RUNS} bodies: the property would be vacuous`);
});

test('the query compiler, fed arbitrary JSON: refused, or SQL whose every value is bound', () => {
  const MARK = 'QZX';
  const marked = fc.string({ maxLength: 12 }).map((s) => `${s}${MARK}`);
  const filter = fc.oneof(
    fc.record({ property: marked, source: fc.constantFrom(...SOURCES), op: fc.constantFrom('eq', 'neq', 'contains', 'not_contains'), value: marked }, { requiredKeys: ['property', 'op', 'value'] }),
    fc.record({ property: marked, op: fc.constantFrom('in', 'not_in'), value: fc.array(marked, { minLength: 1, maxLength: 3 }) }),
    fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('gt', 'lte'), value: fc.integer() }),
    fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('eq'), value: marked }),
    fc.record({ property: marked, op: fc.constantFrom('is_set', 'is_not_set') }),
    // Not in the schema: refused.
    fc.record({ field: marked, op: fc.constantFrom('regex', 'eq'), value: marked }),
  );
  const dimension = fc.oneof(fc.record({ property: marked, source: fc.constantFrom(...SOURCES) }, { requiredKeys: ['property'] }), fc.record({ field: fc.constantFrom(...FIELDS) }));
  const common = {
    from: fc.oneof(fc.constantFrom('-7d', '-30d', '-24h', '2026-11-01T00:00:00Z'), marked),
    events: fc.array(fc.oneof(marked, hostileString), { maxLength: 3 }),
    filters: fc.array(filter, { maxLength: 3 }),
  };
  const opt = { requiredKeys: ['kind'] as ['kind'] };
  const shaped = fc.oneof(
    fc.record({ kind: fc.constant('trend'), ...common, interval: fc.constantFrom('hour', 'day', 'week', 'month', 'year'), measure: fc.constantFrom('events', 'users'), breakdown: dimension }, opt),
    fc.record({ kind: fc.constant('top'), ...common, by: dimension, limit: fc.integer({ min: -1, max: 120 }) }, { requiredKeys: ['kind', 'by'] }),
    fc.record({ kind: fc.constant('funnel'), ...common, steps: fc.array(fc.record({ event: marked, filters: fc.array(filter, { maxLength: 2 }) }, { requiredKeys: ['event'] }), { minLength: 1, maxLength: 4 }) }, { requiredKeys: ['kind', 'steps'] }),
    fc.record({ kind: fc.constant('events'), ...common, limit: fc.integer({ min: 0, max: 2_000 }) }, opt),
    fc.record({ kind: fc.constantFrom('warnings', 'schema'), from: common.from }, opt),
    // A tenant in the body, or SQL: refused by the strict schema.
    fc.record({ kind: fc.constantFrom('events', 'trend'), tenantId: marked, sql: marked }, opt),
  );
  const input = viaJson(fc.oneof({ arbitrary: shaped, weight: 6 }, { arbitrary: json, weight: 1 }));
  let compiled = 0;
  fc.assert(
    fc.property(input, (raw) => {
      const parsed = Query.safeParse(raw);
      if (!parsed.success) return;
      let out;
      try {
        out = compile(parsed.data, { tenantId: 'ten_AAAAAAAAAAAA', now: new Date('2026-11-24T12:00:00Z') });
      } catch (err) {
        assert.ok(err instanceof AppError && err.status < 500, String(err));
        return;
      }
      compiled++;
      assert.ok(!out.sql.includes(MARK), 'a value from the query is in the SQL text');
      const placeholders = [...out.sql.matchAll(/\{([A-Za-z0-9_]+):[^}]+\}/g)].map((m) => m[1]);
      for (const name of placeholders) assert.ok(name !== undefined && Object.hasOwn(out.params, name), `unbound placeholder ${name}`);
      assert.equal(out.params.tenant, 'ten_AAAAAAAAAAAA');
    }),
    { numRuns: RUNS },
  );
  // Make sure the property was not vacuous.
  assert.ok(compiled > RUNS / 20, `only ${compiled} of ${RUNS} inputs compiled`);
});
