import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EVENT_TYPES } from './event-row.ts';
import {
  BatchBodySchema,
  BatchEnvelopeSchema,
  parseTimestamp,
  SEGMENT_DROPPED_FIELDS,
  WIRE_EVENT_SCHEMAS,
  WireEventSchema,
} from './wire.ts';

function issues(input: unknown): { code: string; path: PropertyKey[] }[] {
  const r = WireEventSchema.safeParse(input);
  assert.equal(r.success, false, 'expected the schema to refuse the input');
  return r.error ? r.error.issues.map((i) => ({ code: i.code, path: i.path })) : [];
}

describe('parseTimestamp', () => {
  test('reads the ISO-8601 forms SDKs send', () => {
    assert.equal(parseTimestamp('2026-01-02T03:04:05.678Z'), Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    assert.equal(parseTimestamp('2026-01-02T03:04:05Z'), Date.UTC(2026, 0, 2, 3, 4, 5));
    assert.equal(parseTimestamp('2026-01-02T03:04Z'), Date.UTC(2026, 0, 2, 3, 4));
    assert.equal(parseTimestamp('2026-01-02T03:04:05.123456+02:00'), Date.UTC(2026, 0, 2, 1, 4, 5, 123));
    assert.equal(parseTimestamp('2026-01-02T03:04:05-0130'), Date.UTC(2026, 0, 2, 4, 34, 5));
    assert.equal(parseTimestamp('2026-01-02'), Date.UTC(2026, 0, 2));
    assert.equal(parseTimestamp('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
  });

  test('reads a date-time without an offset as UTC, whatever the server zone', () => {
    assert.equal(parseTimestamp('2026-01-02T03:04:05'), Date.UTC(2026, 0, 2, 3, 4, 5));
  });

  test('refuses impossible dates that Date.parse would roll over', () => {
    assert.ok(Number.isFinite(Date.parse('2023-02-29T00:00:00Z')), 'Date.parse accepts it');
    for (const s of ['2023-02-29T00:00:00Z', '2026-13-01', '2026-00-10', '2026-04-31', '2026-01-01T24:00:00Z', '2026-01-01T10:60Z']) {
      assert.equal(parseTimestamp(s), null, s);
    }
  });

  test('refuses non-ISO text and out-of-range years', () => {
    for (const s of ['', 'yesterday', '2026-1-1', 'Tue, 02 Jan 2026 03:04:05 GMT', '1700000000000', '2026-01-01T00:00:00+25:00']) {
      assert.equal(parseTimestamp(s), null, s);
    }
    assert.equal(parseTimestamp('1969-12-31T23:59:59.999Z'), null);
    assert.equal(parseTimestamp('1970-01-01T00:00:00Z'), 0);
    assert.equal(parseTimestamp('2200-12-31T23:59:59.999Z'), Date.UTC(2200, 11, 31, 23, 59, 59, 999));
    assert.equal(parseTimestamp('2201-01-01T00:00:00Z'), null);
    assert.equal(parseTimestamp('0050-01-01T00:00:00Z'), null);
  });

  // toISOString's form (…T03:04:05.678Z) has a shortcut that skips the regex; with a lower-case
  // `z` the same text takes the regex path, so the two must always agree.
  const viaRegex = (s: string) => parseTimestamp(`${s.slice(0, -1)}z`);

  test("toISOString's form reads as the instant it names, like the general path, in and out of range", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(Date.UTC(1900, 0, 1)), max: new Date(Date.UTC(2300, 0, 1)), noInvalidDate: true }), (d) => {
        const s = d.toISOString();
        const inRange = d.getTime() >= 0 && d.getTime() < Date.UTC(2201, 0, 1);
        assert.equal(parseTimestamp(s), inRange ? d.getTime() : null, s);
        assert.equal(parseTimestamp(s), viaRegex(s), s);
      }),
      { numRuns: 3_000 },
    );
  });

  test("text shaped like toISOString's form, digits or not, impossible dates included, reads as the general path reads it", () => {
    const digitOrNot = fc.constantFrom('0', '1', '2', '3', '5', '9', 'a', ' ', '/', '٣');
    const slot = (n: number) => fc.array(digitOrNot, { minLength: n, maxLength: n }).map((a) => a.join(''));
    const field = (n: number, max: number) => fc.oneof(fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0')), slot(n));
    const shaped = fc
      .tuple(field(4, 9999), field(2, 99), field(2, 99), field(2, 99), field(2, 99), field(2, 99), field(3, 999))
      .map(([y, mo, d, h, mi, s, ms]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
    fc.assert(
      fc.property(shaped, (s) => {
        assert.equal(s.length, 24);
        assert.equal(parseTimestamp(s), viaRegex(s), s);
      }),
      { numRuns: 5_000 },
    );
    // Leap years and month ends, on the shortcut.
    assert.equal(parseTimestamp('2024-02-29T00:00:00.000Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseTimestamp('2100-02-29T00:00:00.000Z'), null);
    assert.equal(parseTimestamp('2000-02-29T00:00:00.000Z'), Date.UTC(2000, 1, 29));
    assert.equal(parseTimestamp('2026-04-31T00:00:00.000Z'), null);
  });
});

describe('event schemas', () => {
  test('there is one schema per event type', () => {
    assert.deepEqual(Object.keys(WIRE_EVENT_SCHEMAS), [...EVENT_TYPES]);
  });

  test('a track event parses to the same fields, numeric ids as strings', () => {
    const r = WireEventSchema.parse({
      type: 'track',
      event: 'Order Completed',
      userId: 42,
      anonymousId: 'anon-1',
      messageId: 'm-1',
      properties: { total: 9.5 },
      context: { locale: 'en' },
      timestamp: '2026-01-01T00:00:00Z',
      sentAt: '2026-01-01T00:00:01Z',
    });
    assert.deepEqual(r, {
      type: 'track',
      event: 'Order Completed',
      userId: '42',
      anonymousId: 'anon-1',
      messageId: 'm-1',
      properties: { total: 9.5 },
      context: { locale: 'en' },
      timestamp: '2026-01-01T00:00:00Z',
      sentAt: '2026-01-01T00:00:01Z',
    });
  });

  test('minimal events of every type', () => {
    assert.deepEqual(WireEventSchema.parse({ type: 'page', anonymousId: 'a' }), { type: 'page', anonymousId: 'a' });
    assert.deepEqual(WireEventSchema.parse({ type: 'screen', userId: 'u', name: 'Home' }), { type: 'screen', userId: 'u', name: 'Home' });
    assert.deepEqual(WireEventSchema.parse({ type: 'identify', userId: 'u', traits: { plan: 'pro' } }), {
      type: 'identify',
      userId: 'u',
      traits: { plan: 'pro' },
    });
    assert.deepEqual(WireEventSchema.parse({ type: 'group', userId: 'u', groupId: 7 }), { type: 'group', userId: 'u', groupId: '7' });
    assert.deepEqual(WireEventSchema.parse({ type: 'alias', userId: 'u', previousId: 'anon' }), {
      type: 'alias',
      userId: 'u',
      previousId: 'anon',
    });
  });

  test('analytics-python style nulls are accepted as absent', () => {
    const r = WireEventSchema.parse({ type: 'track', event: 'e', userId: null, anonymousId: 'a', properties: null, messageId: null });
    assert.deepEqual(r, { type: 'track', event: 'e', userId: null, anonymousId: 'a', properties: null, messageId: null });
  });

  test('every type needs userId or anonymousId', () => {
    for (const type of EVENT_TYPES) {
      const base = { type, event: 'e', groupId: 'g', previousId: 'p' };
      const paths = issues(base).map((i) => i.path.join('.'));
      assert.ok(paths.includes('userId'), `${type}: ${paths.join(',')}`);
    }
    assert.deepEqual(issues({ type: 'track', event: 'e', userId: '', anonymousId: 'a' }), [{ code: 'too_small', path: ['userId'] }]);
  });

  test('required fields per type', () => {
    assert.deepEqual(issues({ type: 'track', userId: 'u' }), [{ code: 'invalid_type', path: ['event'] }]);
    assert.deepEqual(issues({ type: 'track', userId: 'u', event: '' }), [{ code: 'too_small', path: ['event'] }]);
    assert.deepEqual(issues({ type: 'track', userId: 'u', event: 'x'.repeat(201) }), [{ code: 'too_big', path: ['event'] }]);
    assert.equal(WireEventSchema.safeParse({ type: 'track', userId: 'u', event: 'x'.repeat(200) }).success, true);
    assert.deepEqual(issues({ type: 'group', userId: 'u' }), [{ code: 'invalid_union', path: ['groupId'] }]);
    assert.deepEqual(issues({ type: 'alias', userId: 'u' }), [{ code: 'invalid_union', path: ['previousId'] }]);
    assert.deepEqual(issues({ type: 'alias', anonymousId: 'a', previousId: 'p' }), [{ code: 'invalid_union', path: ['userId'] }]);
  });

  test('ids: strings or finite numbers, 1-256 characters', () => {
    assert.equal(WireEventSchema.safeParse({ type: 'identify', userId: 'u'.repeat(256) }).success, true);
    assert.deepEqual(issues({ type: 'identify', userId: 'u'.repeat(257) }), [{ code: 'too_big', path: ['userId'] }]);
    // 1e400 is what JSON.parse makes of an overflowing number: Infinity.
    assert.deepEqual(issues(JSON.parse('{"type":"identify","userId":1e400}')), [{ code: 'invalid_union', path: ['userId'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: { id: 1 } }), [{ code: 'invalid_union', path: ['userId'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: true }), [{ code: 'invalid_union', path: ['userId'] }]);
  });

  test('messageId: a string of 1-128 characters', () => {
    assert.equal(WireEventSchema.safeParse({ type: 'identify', userId: 'u', messageId: 'm'.repeat(128) }).success, true);
    assert.deepEqual(issues({ type: 'identify', userId: 'u', messageId: 'm'.repeat(129) }), [{ code: 'too_big', path: ['messageId'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: 'u', messageId: '' }), [{ code: 'too_small', path: ['messageId'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: 'u', messageId: 5 }), [{ code: 'invalid_type', path: ['messageId'] }]);
  });

  test('timestamps must be ISO-8601 within 1970-2200', () => {
    for (const field of ['timestamp', 'sentAt', 'originalTimestamp']) {
      assert.deepEqual(issues({ type: 'identify', userId: 'u', [field]: 'last tuesday' }), [{ code: 'custom', path: [field] }]);
      assert.deepEqual(issues({ type: 'identify', userId: 'u', [field]: '1960-01-01T00:00:00Z' }), [{ code: 'custom', path: [field] }]);
      assert.deepEqual(issues({ type: 'identify', userId: 'u', [field]: 1767225600000 }), [{ code: 'invalid_type', path: [field] }]);
    }
  });

  test('properties, traits and context must be objects', () => {
    assert.deepEqual(issues({ type: 'track', userId: 'u', event: 'e', properties: [1] }), [{ code: 'custom', path: ['properties'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: 'u', traits: 'x' }), [{ code: 'custom', path: ['traits'] }]);
    assert.deepEqual(issues({ type: 'identify', userId: 'u', context: 1 }), [{ code: 'custom', path: ['context'] }]);
  });

  test('JSON objects pass through untouched so the sanitiser sees a __proto__ key', () => {
    const input = JSON.parse('{"type":"track","userId":"u","event":"e","properties":{"__proto__":{"admin":true}}}');
    const r = WireEventSchema.parse(input);
    assert.ok(r.type === 'track');
    assert.equal(r.properties, input.properties);
    assert.deepEqual(Object.keys(r.properties ?? {}), ['__proto__']);
  });

  test('unknown top-level keys are refused, including a tenant id and __proto__', () => {
    for (const key of ['tenant_id', 'tenantId', 'foo', '__proto__', 'properties_']) {
      const input = JSON.parse(`{"type":"track","userId":"u","event":"e",${JSON.stringify(key)}:"t2"}`);
      assert.deepEqual(issues(input), [{ code: 'unrecognized_keys', path: [] }], key);
    }
    // identify has no properties in Segment's spec
    assert.deepEqual(issues({ type: 'identify', userId: 'u', properties: {} }), [{ code: 'unrecognized_keys', path: [] }]);
  });

  test("the fields real Segment SDKs add are accepted", () => {
    const extras = {
      integrations: { All: true },
      channel: 'server',
      version: 2,
      _metadata: { bundled: [] },
      writeKey: 'wk',
      receivedAt: '2026-01-01T00:00:00Z',
      options: {},
    };
    assert.deepEqual(Object.keys(extras), [...SEGMENT_DROPPED_FIELDS]);
    const minimal = [
      { type: 'track', userId: 'u', event: 'e' },
      { type: 'page', userId: 'u' },
      { type: 'screen', userId: 'u' },
      { type: 'identify', userId: 'u' },
      { type: 'group', userId: 'u', groupId: 'g' },
      { type: 'alias', userId: 'u', previousId: 'p' },
    ];
    for (const event of minimal) {
      const r = WireEventSchema.safeParse({ ...event, ...extras });
      assert.equal(r.success, true, event.type);
    }
  });

  test('an unknown or missing type is refused', () => {
    assert.deepEqual(issues({ event: 'e', userId: 'u' }), [{ code: 'invalid_union', path: ['type'] }]);
    assert.deepEqual(issues({ type: 'purchase', userId: 'u' }), [{ code: 'invalid_union', path: ['type'] }]);
  });
});

describe('batch schemas', () => {
  test('the envelope keeps events unparsed and accepts SDK extras', () => {
    const body = { batch: [{ anything: 1 }], sentAt: '2026-01-01T00:00:00Z', context: { ip: 'x' }, writeKey: 'k', timestamp: 'x' };
    assert.deepEqual(BatchEnvelopeSchema.parse(body), body);
  });

  test('the envelope is strict and needs a non-empty batch', () => {
    assert.equal(BatchEnvelopeSchema.safeParse({ batch: [{}], tenant_id: 't2' }).success, false);
    assert.equal(BatchEnvelopeSchema.safeParse({ batch: [] }).success, false);
    assert.equal(BatchEnvelopeSchema.safeParse({ batch: {} }).success, false);
    assert.equal(BatchEnvelopeSchema.safeParse({ batch: [{}], sentAt: 'soon' }).success, false);
  });

  test('the whole-body schema validates every event, for SDKs', () => {
    const good = { batch: [{ type: 'track', event: 'e', userId: 1 }] };
    assert.deepEqual(BatchBodySchema.parse(good), { batch: [{ type: 'track', event: 'e', userId: '1' }] });
    assert.equal(BatchBodySchema.safeParse({ batch: [{ type: 'track', userId: 1 }] }).success, false);
    assert.equal(BatchBodySchema.safeParse({ ...good, extra: 1 }).success, false);
  });
});
