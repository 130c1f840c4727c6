/**
 * Property tests: whatever a client sends, ingestBody either throws an
 * AppError (a whole-request problem) or returns rows that are clean, belong
 * to the authenticated tenant, and pass the storage writer's own guard.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CLICKHOUSE_TIME_RE, EVENT_TYPES, type EventRow } from '../../schemas/event-row.ts';
import { AppError } from '../errors/index.ts';
import { guardRows } from '../storage/event-writer.ts';
import { ingestBody, type IngestContext } from './pipeline.ts';

const ctx: IngestContext = {
  tenantId: 'ten_tenantaxxxxx',
  keyId: 'key_1',
  requestId: 'req_1',
  receivedAt: new Date('2026-03-10T12:00:00.000Z'),
  ip: '203.0.113.7',
  userAgent: '',
  limits: {
    maxEventBytes: 32 * 1024,
    maxBodyBytes: 500 * 1024,
    maxDecompressedBytes: 1024 * 1024,
    maxBatchEvents: 20,
    maxProperties: 40,
    maxStringLength: 64,
    maxDepth: 4,
  },
};

const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

const hostileUnit = fc.oneof(
  fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009f', '\uD800', '\uDFFF', 'e\u0301', '\t', '.', 'a', 'é'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
);
const hostileString = fc.string({ unit: hostileUnit, maxLength: 80 });
const keyUnit = fc.oneof({ arbitrary: fc.constantFrom(...'abcxyz_-.0é'), weight: 20 }, { arbitrary: hostileUnit, weight: 1 });
// Mostly ordinary keys, so that a tree usually survives and its rows are checked.
const hostileKey = fc.oneof(
  { arbitrary: fc.string({ unit: keyUnit, minLength: 1, maxLength: 12 }), weight: 50 },
  { arbitrary: fc.constantFrom('tenant_id', 'tenantId', 'a.b', 'a', 'b', 'userAgent', 'traits'), weight: 5 },
  { arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype'), weight: 1 },
);
const objectTree = fc.oneof(
  fc.object({ key: hostileKey, maxDepth: 5 }),
  // Through JSON.parse, as a real body arrives: `__proto__` becomes an own key.
  fc.dictionary(hostileKey, fc.jsonValue({ stringUnit: keyUnit, maxDepth: 3 })).map((d) => JSON.parse(JSON.stringify(d))),
);
const tree = fc.oneof({ arbitrary: objectTree, weight: 8 }, { arbitrary: fc.jsonValue({ stringUnit: hostileUnit, maxDepth: 5 }), weight: 1 });
const time = fc.oneof(
  {
    arbitrary: fc
      .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-12-31T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    weight: 20,
  },
  { arbitrary: hostileString, weight: 1 },
);
const id = fc.oneof({ arbitrary: hostileString.filter((s) => s.length > 0), weight: 6 }, fc.integer(), fc.double());

// Mostly well-formed events, so that the properties are about real rows and
// not only about rejections.
const eventish = fc
  .record(
    {
      type: fc.constantFrom(...EVENT_TYPES),
      userId: id,
      anonymousId: id,
      messageId: fc.oneof({ arbitrary: fc.uuid(), weight: 4 }, hostileString),
      event: hostileString,
      name: hostileString,
      groupId: id,
      previousId: id,
      properties: tree,
      traits: tree,
      context: tree,
      timestamp: time,
      originalTimestamp: time,
      sentAt: time,
    },
    { requiredKeys: ['type', 'userId', 'event', 'groupId', 'previousId'] },
  )
  .map(({ type, event, name, groupId, previousId, properties, ...rest }) => {
    const pick = <T>(v: T | undefined, k: string) => (v === undefined ? {} : { [k]: v });
    if (type === 'track') return { type, ...rest, ...pick(event, 'event'), ...pick(properties, 'properties') };
    if (type === 'page' || type === 'screen') return { type, ...rest, ...pick(name, 'name'), ...pick(properties, 'properties') };
    if (type === 'group') return { type, ...rest, ...pick(groupId, 'groupId') };
    if (type === 'alias') return { type, ...rest, ...pick(previousId, 'previousId') };
    return { type, ...rest };
  });

type Path = 'batch' | (typeof EVENT_TYPES)[number];
const anyPath = fc.constantFrom<Path>('batch', ...EVENT_TYPES);
const junk = fc.tuple(anyPath, fc.oneof(fc.jsonValue(), fc.object(), fc.jsonValue({ stringUnit: hostileUnit }), fc.object({ key: hostileKey })));
// A single-event endpoint: the right path, with or without the type in the body.
const single = fc.tuple(eventish, fc.boolean()).map(([e, keepType]): [Path, unknown] => {
  const { type, ...rest } = e;
  return [type, keepType ? e : rest];
});
const batch = fc
  .record(
    {
      batch: fc.array(fc.oneof({ arbitrary: eventish, weight: 8 }, tree), { minLength: 1, maxLength: 8 }),
      sentAt: time,
      context: objectTree,
    },
    { requiredKeys: ['batch'] },
  )
  .map((b): [Path, unknown] => ['batch', b]);
const smuggler = fc
  .tuple(anyPath, eventish)
  .map(([path, e]): [Path, unknown] => [path, path === 'batch' ? { batch: [e], tenant_id: 'tenant_b' } : { ...e, tenant_id: 'tenant_b' }]);
const request = fc.oneof(junk, { arbitrary: single, weight: 3 }, { arbitrary: batch, weight: 3 }, smuggler);

function walk(v: unknown, path: string): void {
  if (typeof v === 'string') {
    assert.ok(!CONTROL.test(v), `control character at ${path}`);
    assert.ok(!LONE_SURROGATE.test(v), `lone surrogate at ${path}`);
  }
  else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
  else if (typeof v === 'object' && v !== null) {
    assert.equal(Object.getPrototypeOf(v), Object.prototype, `odd prototype at ${path}`);
    for (const [k, x] of Object.entries(v)) {
      assert.ok(!FORBIDDEN.has(k), `forbidden key at ${path}`);
      assert.ok(!CONTROL.test(k), `control character in a key at ${path}`);
      walk(x, `${path}.${k}`);
    }
  }
}

function checkRow(row: EventRow): void {
  assert.equal(row.tenant_id, ctx.tenantId);
  assert.equal(row.key_id, ctx.keyId);
  assert.equal(row.ip, ctx.ip);
  assert.equal(row.received_at, '2026-03-10 12:00:00.000');
  assert.match(row.timestamp, CLICKHOUSE_TIME_RE);
  assert.ok(row.timestamp <= row.received_at.replace('2026-03-10', '2026-03-11'));
  walk(row, 'row');
}

test('ingestBody never throws anything but AppError, and every row is clean and ours', (t) => {
  let rows = 0;
  let rejections = 0;
  fc.assert(
    fc.property(request, ([path, input]) => {
      let result;
      try {
        result = ingestBody(path, input, ctx);
      } catch (err) {
        if (err instanceof AppError) return;
        throw err;
      }
      result.rows.forEach(checkRow);
      guardRows(ctx.tenantId, result.rows);
      // Every event is accounted for exactly once: a row or a rejection.
      const events = path === 'batch' && typeof input === 'object' && input !== null && 'batch' in input && Array.isArray(input.batch) ? input.batch.length : 1;
      assert.equal(result.rows.length + result.rejected.length, events);
      const indexes = result.rejected.map((r) => r.index);
      assert.equal(new Set(indexes).size, indexes.length);
      assert.ok(indexes.every((i) => Number.isInteger(i) && i >= 0 && i < events));
      for (const r of result.rejected) assert.ok(!CONTROL.test(r.message) && !CONTROL.test(r.messageId ?? ''));
      rows += result.rows.length;
      rejections += result.rejected.length;
    }),
    { numRuns: 1500 },
  );
  // Not a vacuous pass: both outcomes were exercised.
  t.diagnostic(`${rows} rows, ${rejections} rejections`);
  assert.ok(rows > 100, `only ${rows} rows`);
  assert.ok(rejections > 100, `only ${rejections} rejections`);
});
