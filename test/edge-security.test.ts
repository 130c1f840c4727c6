/**
 * The edge refuses what it must, with the right status and code, and stores
 * nothing from a refused request: every auth failure, wrong scopes, keys in
 * URLs, browser origins, limits, gzip bombs, content types. In-process
 * (`app.request()` on a node built from real parts): none of it needs a
 * process; TLS and the listeners are test/edge-transport.int.test.ts's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startInProcess, type InProcessPalisade } from './helpers/in-process.ts';
import { basic, createTenant, removeDir, stats, waitFor, type CreatedTenant } from './helpers/palisade.ts';

let p: InProcessPalisade;
let t: CreatedTenant;
const ORIGIN = 'https://shop.example';

before(async () => {
  p = await startInProcess({ env: { PALISADE_KEY_REFRESH_MS: '1000' } });
  t = await createTenant(p, 'acme', [ORIGIN]);
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

const event = { event: 'Signed Up', userId: 'u1' };

async function expectError(r: { status: number; body: unknown; headers: Record<string, unknown> }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const err = (r.body as { error: { code: string; message: string; requestId: string } }).error;
  assert.equal(err.code, code);
  assert.ok(err.message.length > 0);
  assert.match(err.requestId, /^[0-9a-f-]{36}$/);
  assert.equal(r.headers['cache-control'], 'no-store');
}

describe('authentication', () => {
  test('missing, malformed, bad checksum, wrong secret, wrong scheme → 401 with distinct codes', async () => {
    const keyId = t.keys.ingest.slice(7, 23);
    const good = t.keys.ingest;
    const badChecksum = good.slice(0, -1) + (good.endsWith('a') ? 'b' : 'a');
    const wrongSecret = `pal_sk_${keyId}_${'A'.repeat(22)}`;
    await expectError(await p.api('POST', '/v1/track', { body: event }), 401, 'unauthorized');
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: basic('not-a-key') }), 401, 'malformed_credential');
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: basic(badChecksum) }), 401, 'malformed_credential');
    // A well-formed token with the real key id and a made-up secret needs a valid checksum to reach argon2.
    const { crc32 } = await import('node:zlib');
    const { encodeBase62Fixed } = await import('../src/auth/base62.ts');
    const forged = `${wrongSecret}${encodeBase62Fixed(crc32(wrongSecret), 6)}`;
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: basic(forged) }), 401, 'invalid_credential');
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: { authorization: `Digest ${good}` } }), 401, 'unauthorized');
  });

  test('a credential in the query string is refused even when valid', async () => {
    await expectError(await p.api('POST', `/v1/track?writeKey=${t.keys.browser}`, { body: event, headers: { origin: ORIGIN } }), 403, 'credential_in_url');
    await expectError(await p.api('POST', `/v1/track?x=${encodeURIComponent(t.keys.ingest)}`, { body: event, headers: basic(t.keys.ingest) }), 403, 'credential_in_url');
  });

  test('scopes: a query key cannot ingest; an ingest key cannot use the admin API', async () => {
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: basic(t.keys.query) }), 403, 'wrong_scope');
    const r = await fetchAdminWith(t.keys.ingest);
    assert.equal(r, 401);
  });

  test('a secret key in the body is refused (only publishable keys may travel there)', async () => {
    await expectError(await p.api('POST', '/v1/track', { body: { ...event, writeKey: t.keys.ingest } }), 403, 'forbidden');
  });

  test('a revoked key is refused within 5 seconds', async () => {
    const created = await p.admin<{ key: { id: string }; token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
    assert.equal(created.status, 201);
    assert.equal((await p.api('POST', '/v1/track', { body: event, headers: basic(created.body.token) })).status, 200);
    const revokedAt = Date.now();
    assert.equal((await p.admin('DELETE', `/admin/keys/${created.body.key.id}`)).status, 200);
    const r = await waitFor(async () => {
      const r = await p.api('POST', '/v1/track', { body: event, headers: basic(created.body.token) });
      return r.status === 401 && r;
    }, 5_000, 'revocation');
    assert.ok(Date.now() - revokedAt < 5_000);
    await expectError(r, 401, 'revoked_credential');
  });
});

async function fetchAdminWith(token: string): Promise<number> {
  return (await p.adminWith('GET', '/admin/tenants', { authorization: `Bearer ${token}` })).status;
}

describe('browser keys and CORS', () => {
  test('a publishable key works from an allowed origin, in the header or as writeKey', async () => {
    const r = await p.api('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.browser), origin: ORIGIN } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    const beacon = await p.api('POST', '/v1/batch', { raw: JSON.stringify({ writeKey: t.keys.browser, batch: [{ type: 'page', anonymousId: 'a1' }] }), headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN } });
    assert.equal(beacon.status, 200, beacon.text);
  });

  test('a publishable key from any other origin, or none, is refused', async () => {
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.browser), origin: 'https://evil.example' } }), 403, 'origin_not_allowed');
    await expectError(await p.api('POST', '/v1/track', { body: event, headers: basic(t.keys.browser) }), 403, 'origin_not_allowed');
  });

  test('preflights are answered only for origins some tenant allows', async () => {
    const ok = await p.api('OPTIONS', '/v1/batch', { headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], ORIGIN);
    // What @segment/analytics-next and @rudderstack/analytics-js put on their requests.
    const allowed = String(ok.headers['access-control-allow-headers']).split(/,\s*/);
    for (const header of ['authorization', 'content-type', 'content-encoding', 'x-retry-count', 'anonymousid', 'accept', 'sentat', 'rsa-retry-attempt', 'rsa-since-last-attempt']) assert.ok(allowed.includes(header), header);
    const no = await p.api('OPTIONS', '/v1/batch', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(no.status, 403);
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });
});

describe('limits and malformed requests', () => {
  const h = () => basic(t.keys.ingest);

  test('an event over 32 KB: 413 on a single route, rejected alone in a batch', async () => {
    const big = { event: 'Big', userId: 'u1', properties: { blob: 'x'.repeat(33 * 1024) } };
    await expectError(await p.api('POST', '/v1/track', { body: big, headers: h() }), 413, 'event_too_large');
    const r = await p.api<{ accepted: number; rejected: { index: number; code: string }[] }>('POST', '/v1/batch', { body: { batch: [{ type: 'track', ...big }, { type: 'track', ...event }] }, headers: h() });
    assert.equal(r.status, 200);
    assert.equal(r.body.accepted, 1);
    assert.deepEqual(r.body.rejected.map((x) => [x.index, x.code]), [[0, 'event_too_large']]);
  });

  test('a body over 500 KB is a 413', async () => {
    const batch = Array.from({ length: 30 }, () => ({ type: 'track', event: 'E', userId: 'u', properties: { s: 'y'.repeat(20 * 1024) } }));
    await expectError(await p.api('POST', '/v1/batch', { body: { batch }, headers: h() }), 413, 'payload_too_large');
  });

  test('a gzip bomb is a 413 and the server stays up', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
    await expectError(await p.api('POST', '/v1/batch', { raw: bomb, headers: { ...h(), 'content-type': 'application/json', 'content-encoding': 'gzip' } }), 413, 'payload_too_large');
    assert.equal((await p.api('GET', '/healthz')).status, 200);
  });

  test('gzip bodies within the cap are accepted', async () => {
    const r = await p.api('POST', '/v1/track', { raw: gzipSync(JSON.stringify(event)), headers: { ...h(), 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    assert.equal(r.status, 200, r.text);
  });

  test('malformed JSON, wrong content type, unknown route, wrong method', async () => {
    await expectError(await p.api('POST', '/v1/track', { raw: '{"event":', headers: { ...h(), 'content-type': 'application/json' } }), 400, 'invalid_json');
    // Any label is accepted for a JSON body (see the next test); a body in another format is a 415.
    await expectError(await p.api('POST', '/v1/track', { raw: 'event=x', headers: { ...h(), 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    await expectError(await p.api('POST', '/v1/nope', { body: event, headers: h() }), 404, 'not_found');
    await expectError(await p.api('GET', '/v1/track', { headers: h() }), 405, 'method_not_allowed');
    await expectError(await p.api('POST', '/v1/batch', { body: { batch: 'nope' }, headers: h() }), 400, 'invalid_body');
    await expectError(await p.api('POST', '/v1/batch', { body: [1, 2], headers: h() }), 400, 'invalid_body');
  });

  test('a JSON body is accepted whatever its label, gzip or not (rudder-sdk-node sends gzip as form-urlencoded)', async () => {
    for (const label of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      for (const gz of [false, true]) {
        const headers: Record<string, string> = { ...h(), ...(label ? { 'content-type': label } : {}), ...(gz ? { 'content-encoding': 'gzip' } : {}) };
        const json = JSON.stringify(event);
        const r = await p.api('POST', '/v1/track', { raw: gz ? gzipSync(json) : json, headers });
        assert.equal(r.status, 200, `${label ?? 'no label'} gzip=${gz}: ${r.text}`);
      }
    }
  });

  test('too many properties, too deep, bad timestamps: rejected with their own codes', async () => {
    const many = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`p${i}`, i]));
    let deep: unknown = 1;
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const r = await p.api<{ rejected: { index: number; code: string }[] }>('POST', '/v1/batch', {
      body: { batch: [{ type: 'track', event: 'E', userId: 'u', properties: many }, { type: 'track', event: 'E', userId: 'u', properties: { deep } }, { type: 'track', event: 'E', userId: 'u', timestamp: 'yesterday' }] },
      headers: h(),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.rejected.map((x) => x.code), ['too_many_properties', 'too_deep', 'invalid_timestamp']);
  });

  test('every response carries the security headers', async () => {
    const r = await p.api('POST', '/v1/track', { body: event, headers: h() });
    assert.match(String(r.headers['strict-transport-security']), /max-age=\d+/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(String(r.headers['content-type']), /^application\/json/);
  });

  test('nothing from any refused request was stored', async () => {
    // Accepted above: 1 (revoked-key test) + 1 + 1 (browser) + 1 (batch with big) + 1 (gzip) + 6 (labels) + 1 (headers) = 12.
    const s = await waitFor(async () => {
      const s = await stats(p, t.tenant.id);
      return s.events >= 12 && s;
    }, 3_000, 'accepted events');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await stats(p, t.tenant.id)).events, 12, JSON.stringify(s));
  });
});
