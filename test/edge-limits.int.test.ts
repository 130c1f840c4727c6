/**
 * Abuse and resource limits, attacked over real TLS against a real
 * server: per-IP and per-key token buckets with their headers, failed-auth
 * throttling (audited, counted, no argon2), slowloris, oversized headers and
 * the per-IP connection cap. Each test speaks from its own loopback address
 * (127.0.0.x), so per-IP limits of one test never touch another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newSecretToken } from '../src/auth/tokens.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { caOf, from, metric, rawTls, readUntilClose } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let t: CreatedTenant;
let t2: CreatedTenant;
const event = { event: 'Signed Up', userId: 'u1' };

before(async () => {
  p = await startPalisade({
    env: {
      PALISADE_IP_RATE_LIMIT: '5',
      PALISADE_IP_RATE_BURST: '10',
      PALISADE_AUTH_FAIL_IP_MAX: '5',
      PALISADE_AUTH_FAIL_KEY_MAX: '8',
      PALISADE_AUTH_FAIL_COOLDOWN_MS: '60000',
      PALISADE_MAX_CONNECTIONS_PER_IP: '4',
      PALISADE_HEADERS_TIMEOUT_MS: '2000',
      PALISADE_KEY_REFRESH_MS: '500',
    },
  });
  t = await createTenant(p, 'acme', ['https://shop.example']);
  t2 = await createTenant(p, 'metered');
});

after(async () => {
  // The last test stops the server itself to read its data directory.
  if (p && p.proc.exitCode === null && p.proc.signalCode === null) await p.kill();
  if (p) await removeDir(p.dataDir);
});

describe('token buckets', () => {
  // The exact burst-then-429 sequence is proven with a fake clock in
  // src/http/middleware/edge-limits.test.ts. Over real TLS a busy machine can
  // refill the bucket between two requests, so this checks only what no refill
  // can change: the whole burst passes (refill only adds tokens) and a 429 with
  // its fields comes once requests outpace 5/s.
  test('per IP over TLS, before authentication: at least the burst passes, then 429 with Retry-After and RateLimit fields; other IPs are untouched', async () => {
    const a = await from(p, '127.0.0.11');
    const b = await from(p, '127.0.0.12');
    try {
      const statuses: number[] = [];
      let last;
      // 200 requests: no 429 would mean each took over 200 ms (the refill interval at 5/s).
      for (let i = 0; i < 200 && last?.status !== 429; i++) {
        // No credential at all: the IP limit runs first, so even garbage pays.
        last = await a.call('POST', '/v1/track', { body: event });
        statuses.push(last.status);
      }
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
      assert.ok(statuses.slice(10, -1).every((s) => s === 401), statuses.join(','));
      assert.ok(last);
      assert.equal(last.status, 429, statuses.join(','));
      assert.equal((last.body as { error: { code: string } }).error.code, 'rate_limited');
      assert.ok(Number(last.headers['retry-after']) >= 1);
      assert.equal(last.headers['ratelimit-policy'], '"ip";q=10;w=2');
      assert.match(String(last.headers.ratelimit), /^"ip";r=0;t=\d+$/);
      const other = await b.call('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) });
      assert.equal(other.status, 200, other.text);
      assert.match(String(other.headers['ratelimit-policy']), /"ip";q=10;w=2, "key";q=100000;w=10/);
      assert.ok((await metric(p, 'palisade_rate_limited_total', 'limit="ip"')) >= 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('per key, in events, from the tenant setting: a batch spends its events; past them, 429 naming the key policy', async () => {
    const set = await p.admin('PATCH', `/admin/tenants/${t2.tenant.id}/settings`, { rateLimit: { eventsPerSecond: 1, burst: 5 } });
    assert.equal(set.status, 200, set.text);
    const c = await from(p, '127.0.0.13');
    try {
      const batch = { batch: Array.from({ length: 5 }, (_, i) => ({ type: 'track', event: 'E', userId: `u${i}` })) };
      const ok = await c.call('POST', '/v1/batch', { body: batch, headers: basic(t2.keys.ingest) });
      assert.equal(ok.status, 200, ok.text);
      assert.match(String(ok.headers.ratelimit), /"key";r=0;t=5/);
      const refused = await c.call('POST', '/v1/track', { body: event, headers: basic(t2.keys.ingest) });
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.headers['retry-after'], '1');
      assert.match(String(refused.headers['ratelimit-policy']), /"key";q=5;w=5/);
      // The tenant being refused is named by doctor (no tenant label in /metrics: the streak gauge is unlabelled).
      const doctor = await p.admin<{ rateLimited: { tenantId: string; seconds: number } | null }>('GET', '/admin/doctor');
      assert.equal(doctor.body.rateLimited?.tenantId, t2.tenant.id);
      // Another tenant's key on the same IP has its own bucket.
      assert.equal((await c.call('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) })).status, 200);
      await new Promise((r) => setTimeout(r, 1_100));
      assert.equal((await c.call('POST', '/v1/track', { body: event, headers: basic(t2.keys.ingest) })).status, 200);
    } finally {
      await c.close();
    }
  });

  test('a refusal is readable by the browser SDK on an allowed origin', async () => {
    const c = await from(p, '127.0.0.15');
    try {
      let r;
      // Until the IP's bucket refuses (the burst of 10 and then as many as a refill at 5/s allows:
      // on a busy machine a fixed 12 requests could all fit), as in the first test.
      for (let i = 0; i < 200 && r?.status !== 429; i++) r = await c.call('POST', '/v1/track', { body: event, headers: { origin: 'https://shop.example' } });
      assert.equal(r?.status, 429);
      assert.equal(r?.headers['access-control-allow-origin'], 'https://shop.example');
      assert.match(String(r?.headers['access-control-expose-headers']), /Retry-After, RateLimit, RateLimit-Policy/);
    } finally {
      await c.close();
    }
  });
});

describe('failed-authentication throttling', () => {
  test('after 5 failures from one IP, that IP is refused 429 for the cool-down, even with a good key, and it is audited and counted', async () => {
    const c = await from(p, '127.0.0.14');
    try {
      for (let i = 0; i < 5; i++) assert.equal((await c.call('POST', '/v1/track', { body: event, headers: basic('pal_sk_garbage') })).status, 401);
      const r = await c.call('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) });
      assert.equal(r.status, 429, r.text);
      assert.ok(Number(r.headers['retry-after']) > 50, String(r.headers['retry-after']));
      assert.equal(await metric(p, 'palisade_auth_throttle_engaged_total', 'scope="ip"'), 1);
      assert.ok((await metric(p, 'palisade_auth_throttled_requests_total', 'scope="ip"')) >= 1);
    } finally {
      await c.close();
    }
  });

  test('after 8 wrong secrets for one key id (from many IPs), its cache misses are refused without argon2; a caller already verified is not locked out', async () => {
    const keyId = t.keys.ingest.slice(7, 23);
    const argon2Before = await metric(p, 'palisade_auth_argon2_verifications_total');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const c = await from(p, `127.0.1.${i + 1}`);
      statuses.push((await c.call('POST', '/v1/track', { body: event, headers: basic(newSecretToken(keyId).token) })).status);
      await c.close();
    }
    assert.deepEqual(statuses, [...Array(8).fill(401), ...Array(4).fill(429)]);
    assert.equal((await metric(p, 'palisade_auth_argon2_verifications_total')) - argon2Before, 8);
    const c = await from(p, '127.0.0.16');
    assert.equal((await c.call('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) })).status, 200, 'cached token still works');
    await c.close();
    const audit = await waitFor(async () => {
      const r = await p.admin<{ entries: { action: string; target: string; outcome: string; details: Record<string, unknown> }[] }>('GET', `/admin/tenants/${t.tenant.id}/audit?since=1h`);
      return r.body.entries.find((e) => e.action === 'auth.throttled') ?? false;
    }, 10_000, 'the key cool-down in the audit log');
    assert.equal(audit.target, keyId);
    assert.equal(audit.outcome, 'denied');
    assert.equal(audit.details.scope, 'key');
  });
});

describe('slow and oversized requests, connection cap', () => {
  test('a client sending headers one byte per second is cut by the header timeout (2 s here)', async () => {
    const socket = await rawTls(p.apiPort, await caOf(p), '127.0.0.30');
    const opened = Date.now();
    socket.write('POST /v1/track HTTP/1.1\r\nHost: localhost\r\n');
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('X');
    }, 1_000);
    const { data, closedAt } = await readUntilClose(socket, 15_000);
    clearInterval(drip);
    assert.ok(closedAt !== null, 'the server must close the socket');
    const held = closedAt - opened;
    assert.ok(held >= 1_500 && held < 8_000, `held ${held} ms`);
    assert.match(data, /^HTTP\/1\.1 408/);
  });

  test('a 64 KB header gets 431 and the server stays up', async () => {
    const socket = await rawTls(p.apiPort, await caOf(p), '127.0.0.31');
    socket.write(`POST /v1/track HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    const { data } = await readUntilClose(socket, 10_000);
    socket.destroy();
    assert.match(data, /^HTTP\/1\.1 431/);
    assert.equal((await p.api('GET', '/healthz')).status, 200);
  });

  test('connections beyond the per-IP cap (4 here) are closed at once; other IPs and freed slots work', async () => {
    const ca = await caOf(p);
    const held = await Promise.all(Array.from({ length: 4 }, () => rawTls(p.apiPort, ca, '127.0.0.32')));
    await assert.rejects(rawTls(p.apiPort, ca, '127.0.0.32'));
    const other = await rawTls(p.apiPort, ca, '127.0.0.33');
    other.destroy();
    held[0]?.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await rawTls(p.apiPort, ca, '127.0.0.32');
    again.destroy();
    for (const s of held) s.destroy();
    assert.ok((await metric(p, 'palisade_connections_refused_total')) >= 1);
  });
});

describe('the audit trail', () => {
  test('the IP cool-down is in the audit log with the client IP (read from the stopped server\'s data)', async () => {
    await p.stop();
    const wh = await openDataDir(p.dataDir);
    try {
      const rows = await wh.query<{ action: string; client_ip: string; target: string; details: string }>(
        "SELECT action, client_ip, target, details FROM audit_log WHERE action IN ('auth.throttled', 'auth.failure') AND client_ip = '127.0.0.14' ORDER BY seq",
      );
      const throttled = rows.find((r) => r.action === 'auth.throttled');
      assert.ok(throttled, JSON.stringify(rows));
      assert.equal(throttled.target, '127.0.0.14');
      assert.equal(JSON.parse(throttled.details).scope, 'ip');
      // The refusal during the cool-down is an auth failure of its own, aggregated per minute.
      assert.ok(rows.some((r) => r.action === 'auth.failure' && JSON.parse(r.details).reason === 'throttled'), JSON.stringify(rows));
    } finally {
      await wh.close();
    }
  });
});
