import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EventRow } from '../../schemas/event-row.ts';
import { AppError } from '../errors/index.ts';
import { ingestBody, type IngestContext } from './pipeline.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function ctx(overrides: Partial<IngestContext> = {}): IngestContext {
  return {
    tenantId: 'tenant_a',
    keyId: 'key_1',
    requestId: 'req_1',
    receivedAt: new Date('2026-03-10T12:00:00.000Z'),
    ip: '203.0.113.7',
    userAgent: 'curl/8',
    limits: {
      maxEventBytes: 32 * 1024,
      maxBodyBytes: 500 * 1024,
      maxDecompressedBytes: 1024 * 1024,
      maxBatchEvents: 5,
      maxProperties: 50,
      maxStringLength: 1000,
      maxDepth: 5,
    },
    ...overrides,
  };
}

function row(overrides: Partial<EventRow>): EventRow {
  return {
    tenant_id: 'tenant_a',
    message_id: 'm-1',
    type: 'track',
    event: '',
    user_id: '',
    anonymous_id: '',
    group_id: '',
    previous_id: '',
    timestamp: '2026-03-10 12:00:00.000',
    original_timestamp: null,
    sent_at: null,
    received_at: '2026-03-10 12:00:00.000',
    properties: {},
    traits: {},
    context: {},
    ip: '203.0.113.7',
    user_agent: 'curl/8',
    key_id: 'key_1',
    ...overrides,
  };
}

function appError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('ingestBody: single-event endpoints', () => {
  test('a track call becomes one row with request-derived identity', () => {
    const body = {
      event: 'Order Completed',
      userId: 42,
      messageId: 'm-1',
      properties: { total: 9.5, items: [{ sku: 'a' }] },
      context: { locale: 'en-GB' },
    };
    assert.deepEqual(ingestBody('track', body, ctx()), {
      rows: [
        row({
          event: 'Order Completed',
          user_id: '42',
          properties: { total: 9.5, items: [{ sku: 'a' }] },
          context: { locale: 'en-GB' },
        }),
      ],
      rejected: [],
    });
  });

  test('the path gives the type; a body type that disagrees is refused', () => {
    assert.equal(ingestBody('identify', { type: 'identify', userId: 'u' }, ctx()).rows.length, 1);
    assert.deepEqual(ingestBody('track', { type: 'identify', userId: 'u', messageId: 'm-9' }, ctx()), {
      rows: [],
      rejected: [{ index: 0, code: 'invalid_event', message: 'type: does not match the track endpoint', messageId: 'm-9' }],
    });
  });

  test('each type maps its own fields', () => {
    const base = { userId: 'u', messageId: 'm-1' };
    const [page, screen, identify, group, alias] = [
      ingestBody('page', { ...base, name: 'Pricing', category: 'Docs', properties: { path: '/p' } }, ctx()),
      ingestBody('screen', { ...base, name: 'Home' }, ctx()),
      ingestBody('identify', { ...base, context: { traits: { plan: 'pro' } } }, ctx()),
      ingestBody('group', { ...base, groupId: 7, traits: { seats: 3 } }, ctx()),
      ingestBody('alias', { ...base, previousId: 'anon-1' }, ctx()),
    ].map((r) => r.rows[0]);
    assert.deepEqual(page, row({ type: 'page', user_id: 'u', event: 'Pricing', properties: { path: '/p', category: 'Docs' } }));
    assert.deepEqual(screen, row({ type: 'screen', user_id: 'u', event: 'Home' }));
    assert.deepEqual(identify, row({ type: 'identify', user_id: 'u', traits: { plan: 'pro' }, context: { traits: { plan: 'pro' } } }));
    assert.deepEqual(group, row({ type: 'group', user_id: 'u', group_id: '7', traits: { seats: 3 } }));
    assert.deepEqual(alias, row({ type: 'alias', user_id: 'u', previous_id: 'anon-1' }));
  });

  test('a missing messageId is filled with a fresh UUID', () => {
    const r = ingestBody('batch', { batch: [{ type: 'track', event: 'a', userId: 'u' }, { type: 'track', event: 'b', userId: 'u' }] }, ctx());
    const ids = r.rows.map((x) => x.message_id);
    assert.equal(ids.length, 2);
    assert.ok(ids.every((id) => UUID_RE.test(id)));
    assert.notEqual(ids[0], ids[1]);
  });

  test('Segment SDK extras are accepted and dropped; client receivedAt is ignored', () => {
    const body = {
      event: 'e',
      anonymousId: 'a',
      messageId: 'm-1',
      integrations: { All: true },
      channel: 'server',
      version: 2,
      _metadata: { bundled: ['x'] },
      writeKey: 'wk_secret',
      receivedAt: '2001-01-01T00:00:00Z',
      options: {},
    };
    assert.deepEqual(ingestBody('track', body, ctx()).rows, [row({ event: 'e', anonymous_id: 'a' })]);
  });

  test('user agent: the request header, else context.userAgent when it is a string', () => {
    const body = { event: 'e', userId: 'u', messageId: 'm-1', context: { userAgent: 'Mozilla/5.0' } };
    assert.equal(ingestBody('track', body, ctx()).rows[0]?.user_agent, 'curl/8');
    assert.equal(ingestBody('track', body, ctx({ userAgent: '' })).rows[0]?.user_agent, 'Mozilla/5.0');
    assert.equal(ingestBody('track', { ...body, context: { userAgent: 5 } }, ctx({ userAgent: '' })).rows[0]?.user_agent, '');
    assert.equal(ingestBody('track', body, ctx({ userAgent: '\u0000' })).rows[0]?.user_agent, 'Mozilla/5.0');
  });
});

describe('ingestBody: tenant isolation', () => {
  test('tenant_id and tenantId in an event are refused as unknown fields', () => {
    const body = { batch: [{ type: 'track', event: 'e', userId: 'u', tenant_id: 'tenant_b' }, { type: 'track', event: 'e', userId: 'u', tenantId: 'tenant_b' }] };
    assert.deepEqual(ingestBody('batch', body, ctx()), {
      rows: [],
      rejected: [
        { index: 0, code: 'invalid_event', message: 'tenant_id: unknown field' },
        { index: 1, code: 'invalid_event', message: 'tenantId: unknown field' },
      ],
    });
  });

  test('a tenant id inside context or properties is plain data, never the row tenant', () => {
    const body = {
      batch: [{ type: 'track', event: 'e', userId: 'u', messageId: 'm-1', context: { tenant_id: 'tenant_b' }, properties: { tenantId: 'tenant_b' } }],
      context: { tenant_id: 'tenant_c', ip: '10.0.0.1' },
    };
    assert.deepEqual(ingestBody('batch', body, ctx()).rows, [
      row({ event: 'e', user_id: 'u', context: { ip: '10.0.0.1', tenant_id: 'tenant_b' }, properties: { tenantId: 'tenant_b' } }),
    ]);
  });

  test('a tenant id at the batch level fails the request', () => {
    appError(() => ingestBody('batch', { batch: [{ type: 'identify', userId: 'u' }], tenant_id: 'tenant_b' }, ctx()), 'invalid_body', /tenant_id: unknown field/);
  });
});

describe('ingestBody: whole-request problems throw AppError', () => {
  test('body is not a JSON object', () => {
    for (const body of [null, [], 'x', 1, true, undefined]) appError(() => ingestBody('batch', body, ctx()), 'invalid_body');
    appError(() => ingestBody('track', [{ event: 'e' }], ctx()), 'invalid_body');
  });

  test('batch missing, not an array, or empty', () => {
    for (const body of [{}, { batch: {} }, { batch: 'x' }, { batch: [] }]) {
      appError(() => ingestBody('batch', body, ctx()), 'invalid_body', /^batch: expected a non-empty array of events$/);
    }
  });

  test('more than maxBatchEvents events', () => {
    const batch = Array.from({ length: 6 }, () => ({ type: 'identify', userId: 'u' }));
    appError(() => ingestBody('batch', { batch }, ctx()), 'payload_too_large', /more than 5 events/);
  });

  test('a bad batch-level sentAt or context', () => {
    appError(() => ingestBody('batch', { batch: [{}], sentAt: 'soon' }, ctx()), 'invalid_body', /^sentAt: /);
    appError(() => ingestBody('batch', { batch: [{}], context: [] }, ctx()), 'invalid_body', /^context: /);
    const forbidden = JSON.parse('{"batch":[{}],"context":{"a":{"__proto__":{"x":1}}}}');
    appError(() => ingestBody('batch', forbidden, ctx()), 'invalid_body', /\(forbidden_key\)$/);
    appError(() => ingestBody('batch', { batch: [{}], context: { big: 'x'.repeat(40_000) } }, ctx()), 'payload_too_large');
  });

  test('a batch context nested too deeply for JSON.stringify is an AppError, not a RangeError', () => {
    const deep = JSON.parse(`{"batch":[{}],"context":{"a":${'['.repeat(500_000)}${']'.repeat(500_000)}}}`);
    appError(() => ingestBody('batch', deep, ctx()), 'invalid_body', /^context: nested too deeply$/);
  });
});

describe('ingestBody: one bad event is rejected alone', () => {
  test('rejections carry the index, code, a value-free message and the client messageId', () => {
    const secret = 'card 4111 1111 1111 1111';
    const body = JSON.parse(
      JSON.stringify({
        batch: [
          { type: 'track', userId: 'u', messageId: 'm-0' },
          { type: 'track', event: 'ok', userId: 'u', messageId: 'm-1' },
          { type: 'identify', userId: { secret }, messageId: 'm-2' },
          { type: 'identify', userId: 'u', '<script>': secret },
          { type: 'identify', userId: 'u', timestamp: secret, messageId: 'm-4' },
        ],
      }),
    );
    const r = ingestBody('batch', body, ctx());
    assert.deepEqual(r.rows, [row({ event: 'ok', user_id: 'u' })]);
    assert.deepEqual(r.rejected, [
      { index: 0, code: 'invalid_event', message: 'event: required', messageId: 'm-0' },
      { index: 2, code: 'invalid_event', message: 'userId: expected a string or a finite number', messageId: 'm-2' },
      { index: 3, code: 'invalid_event', message: 'a field: unknown field' },
      { index: 4, code: 'invalid_timestamp', message: 'timestamp: expected an ISO-8601 timestamp between 1970 and 2200', messageId: 'm-4' },
    ]);
    assert.ok(!JSON.stringify(r.rejected).includes('4111'));
    // A messageId that could never have been valid is not echoed back.
    assert.deepEqual(ingestBody('identify', { userId: 'u', messageId: 'x'.repeat(129) }, ctx()).rejected, [
      { index: 0, code: 'invalid_event', message: 'messageId: Too big: expected string to have <=128 characters' },
    ]);
  });

  test('an event over maxEventBytes, counted in UTF-8 bytes', () => {
    const event = { type: 'track', event: 'e', userId: 'u', properties: { s: '€'.repeat(11_000) } }; // 33 KB as UTF-8
    assert.deepEqual(ingestBody('batch', { batch: [event] }, ctx()).rejected, [
      { index: 0, code: 'event_too_large', message: 'event: 33063 bytes, over the 32768-byte limit' },
    ]);
    assert.deepEqual(ingestBody('track', { ...event, properties: { s: '€'.repeat(10_000) } }, ctx()).rejected, []);
  });

  test('the body size skips measuring only when no event can be over the limit', () => {
    const big = { type: 'track', event: 'e', userId: 'u', properties: { s: '€'.repeat(11_000) } }; // 33 KB as UTF-8
    const body = { batch: [big] };
    // The body's own size is never small enough to skip measuring an event over the limit.
    const bodyBytes = Buffer.byteLength(JSON.stringify(body));
    assert.deepEqual(ingestBody('batch', body, ctx({ bodyBytes })).rejected.map((r) => r.code), ['event_too_large']);
    // The worst growth of a parsed value's JSON: numbers written in full (9e20 is 21 digits).
    const source = `{"type":"track","event":"e","userId":"u","properties":{"n":[${Array(1000).fill('9e20').join(',')}]}}`;
    const grown = Buffer.byteLength(JSON.stringify(JSON.parse(source)));
    assert.ok(grown <= source.length * 6, `${grown} bytes from ${source.length}`);
    // A small body measures nothing: the same events are accepted as without the hint.
    const small = { batch: [{ type: 'track', event: 'e', userId: 'u', messageId: 'm-1' }] };
    const hinted = ingestBody('batch', small, ctx({ bodyBytes: Buffer.byteLength(JSON.stringify(small)) }));
    assert.deepEqual(hinted, ingestBody('batch', small, ctx()));
  });

  test('an event nested too deeply to measure is rejected alone', () => {
    const deep = JSON.parse(`{"userId":"u","event":"e","properties":{"a":${'['.repeat(500_000)}${']'.repeat(500_000)}}}`);
    assert.deepEqual(ingestBody('track', deep, ctx()), {
      rows: [],
      rejected: [{ index: 0, code: 'too_deep', message: 'event: nested too deeply to measure' }],
    });
  });

  test('sanitiser codes reach the caller', () => {
    const deep = '{"a":'.repeat(1000) + '1' + '}'.repeat(1000);
    const events = [
      `{"type":"track","event":"e","userId":"u","properties":{"x":{"constructor":{"prototype":1}}}}`,
      `{"type":"track","event":"e","userId":"u","properties":${deep}}`,
      `{"type":"track","event":"e","userId":"u","properties":{"a.b":1,"a":{"b":2}}}`,
      `{"type":"identify","userId":"u","traits":{${Array.from({ length: 51 }, (_, i) => `"t${i}":1`).join(',')}}}`,
      `{"type":"track","event":"e","userId":"u","properties":{"\\u0000":1}}`,
      `{"type":"track","event":"\\u0000\\u0001","userId":"u"}`,
    ];
    const many = ctx({ limits: { ...ctx().limits, maxBatchEvents: 10 } });
    const r = ingestBody('batch', JSON.parse(`{"batch":[${events.join(',')}]}`), many);
    assert.deepEqual(r.rows, []);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code, x.message]),
      [
        [0, 'forbidden_key', 'properties: the key constructor is not allowed'],
        [1, 'too_deep', 'properties: nested deeper than 5 levels'],
        [2, 'duplicate_property_path', 'properties: two keys name the same property path (a.b)'],
        [3, 'too_many_properties', 'traits: more than 50 keys'],
        [4, 'invalid_key', 'properties: keys must be 1-256 characters after cleaning'],
        [5, 'invalid_event', 'event: empty after removing control characters'],
      ],
    );
  });
});

describe('ingestBody: hostile strings are cleaned', () => {
  test('control characters, NUL, lone surrogates, NFD and 1e400 anywhere in an event', () => {
    const json =
      '{"event":"Sign\\u0000up\\u0085","userId":"u\\u0007ser","messageId":"m-1",' +
      '"properties":{"na\\u0000me":"Ad\\u001ba\\ud800","cafe\\u0301":"e\\u0301","big":1e400,"tab":"a\\tb\\r\\n"},' +
      '"context":{"page":{"title":"x\\u009f\\udc00"}}}';
    assert.deepEqual(ingestBody('track', JSON.parse(json), ctx()).rows, [
      row({
        event: 'Signup',
        user_id: 'user',
        properties: { name: 'Ada\uFFFD', 'caf\u00e9': '\u00e9', big: null, tab: 'a\tb\r\n' },
        context: { page: { title: 'x\uFFFD' } },
      }),
    ]);
  });

  test('page names are cut to 200 characters; long strings to maxStringLength', () => {
    const r = ingestBody('page', { userId: 'u', messageId: 'm-1', name: 'n'.repeat(300), properties: { s: 's'.repeat(5000) } }, ctx());
    assert.deepEqual(r.rows, [row({ type: 'page', user_id: 'u', event: 'n'.repeat(200), properties: { s: 's'.repeat(1000) } })]);
  });

  test('the input is not modified', () => {
    const body = JSON.parse('{"batch":[{"type":"track","event":"e\\u0000","userId":"u","properties":{"a\\u0000":"e\\u0301"}}],"context":{"x":1}}');
    const copy = structuredClone(body);
    ingestBody('batch', body, ctx());
    assert.deepEqual(body, copy);
  });
});

describe('ingestBody: time', () => {
  test('a client clock 1 h behind is corrected to server time, using the batch sentAt', () => {
    const body = {
      batch: [
        { type: 'track', event: 'e', userId: 'u', messageId: 'm-1', timestamp: '2026-03-10T10:59:00Z' },
        { type: 'track', event: 'e', userId: 'u', messageId: 'm-1', timestamp: '2026-03-10T10:59:00Z', sentAt: '2026-03-10T11:59:00Z' },
      ],
      sentAt: '2026-03-10T11:00:00Z',
    };
    assert.deepEqual(ingestBody('batch', body, ctx()).rows, [
      row({ event: 'e', user_id: 'u', timestamp: '2026-03-10 11:59:00.000', original_timestamp: '2026-03-10 10:59:00.000', sent_at: '2026-03-10 11:00:00.000' }),
      row({ event: 'e', user_id: 'u', timestamp: '2026-03-10 11:00:00.000', original_timestamp: '2026-03-10 10:59:00.000', sent_at: '2026-03-10 11:59:00.000' }),
    ]);
  });

  test('a timestamp days in the future is clamped to receivedAt', () => {
    const r = ingestBody('track', { event: 'e', userId: 'u', messageId: 'm-1', timestamp: '2026-03-13T00:00:00Z' }, ctx());
    assert.deepEqual(r.rows, [row({ event: 'e', user_id: 'u', original_timestamp: '2026-03-13 00:00:00.000' })]);
  });

  test('batch context sits under the event context, event keys win', () => {
    const body = {
      batch: [{ type: 'identify', userId: 'u', messageId: 'm-1', context: { locale: 'fr', app: { v: 2 } } }],
      context: { locale: 'en', library: { name: 'analytics-node' }, app: { v: 1, build: 7 } },
    };
    assert.deepEqual(ingestBody('batch', body, ctx()).rows, [
      row({ type: 'identify', user_id: 'u', context: { library: { name: 'analytics-node' }, locale: 'fr', app: { v: 2 } } }),
    ]);
  });
});
