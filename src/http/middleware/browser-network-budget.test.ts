/**
 * A browser key's per-network share (chargeKey in edge-limits.ts), in-process
 * with an injected clock: one flooding /24 or /64 is refused while another
 * network keeps getting 200, and a refusal there costs the key's total nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { FailureThrottle } from '../../auth/failure-throttle.ts';
import type { Principal } from '../../auth/authenticator.ts';
import { TokenBuckets } from '../../limits/token-bucket.ts';
import { createLogger } from '../../log/index.ts';
import { onError } from '../errors.ts';
import type { Env } from '../types.ts';
import { BROWSER_NETWORK_SHARE, chargeKey, type EdgeLimits } from './edge-limits.ts';

// 100 events/s, burst 400: a browser key's network share is 25/s, burst 100.
const KEY_POLICY = { name: 'key', ratePerSec: 100, burst: 400 };

function harness(scope: Principal['scope'], networkTarpitMs = 0) {
  let clock = 1_000_000;
  const limits: EdgeLimits = {
    buckets: new TokenBuckets({ now: () => clock }),
    ipPolicy: { name: 'ip', ratePerSec: 0, burst: 0 },
    ipThrottle: new FailureThrottle({ maxFailures: 10, windowMs: 60_000, cooldownMs: 60_000 }, { now: () => clock }),
    keyPolicy: () => KEY_POLICY,
    isKnownOrigin: () => false,
    tarpitMs: 0,
    networkTarpitMs,
    counters: { rateLimitedIp: 0, rateLimitedKey: 0, ipThrottleRefusals: 0 },
  };
  const principal: Principal = { tenantId: 'ten_aaaaaaaaaaaa', keyId: 'key_1', scope };
  const app = new Hono<Env>();
  app.onError(onError(createLogger('silent')));
  app.post('/events/:n', async (c) => {
    c.set('requestId', 'r');
    c.set('clientIp', c.req.header('x-test-ip') ?? '');
    await chargeKey(c, limits, principal, Number(c.req.param('n')));
    return c.json({ success: true });
  });
  const send = (ip: string, n: number) => app.request(`/events/${n}`, { method: 'POST', headers: { 'x-test-ip': ip } });
  return { send, limits, advance: (ms: number) => (clock += ms) };
}

test('a browser key: one flooding /24 is refused while another network keeps getting 200', async () => {
  const h = harness('browser');
  assert.equal(BROWSER_NETWORK_SHARE, 0.25);
  let refusedAt = -1;
  for (let i = 0; i < 10; i++) {
    const r = await h.send('127.0.2.7', 50);
    if (r.status === 429) {
      refusedAt = i;
      const body = (await r.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'rate_limited');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.match(r.headers.get('ratelimit-policy') ?? '', /key-network/);
      break;
    }
  }
  // The network's burst of 100 admits two batches of 50; the third is refused.
  assert.equal(refusedAt, 2);
  // Another address in the same /24 shares the flooder's share…
  assert.equal((await h.send('127.0.2.99', 1)).status, 429);
  // …a visitor from another network does not, and sees both policies.
  const visitor = await h.send('127.0.3.5', 20);
  assert.equal(visitor.status, 200);
  assert.match(visitor.headers.get('ratelimit-policy') ?? '', /key-network.*key|key.*key-network/);
  // IPv6: the /64 is one network.
  for (let i = 0; i < 3; i++) await h.send('2001:db8:1:2::1', 50);
  assert.equal((await h.send('2001:db8:1:2::ffff', 1)).status, 429);
  assert.equal((await h.send('2001:db8:1:3::1', 1)).status, 200);
  // The network's share refills on the injected clock: 25 tokens a second.
  h.advance(10_000);
  assert.equal((await h.send('127.0.2.7', 20)).status, 200);
});

test('a refusal by the network share costs the key\'s total nothing', async () => {
  const h = harness('browser');
  for (let i = 0; i < 50; i++) await h.send('127.0.2.7', 50);
  // Only 100 events of the flood (two batches) reached the key's bucket of 400.
  for (const net of ['127.0.3.1', '127.0.4.1']) assert.equal((await h.send(net, 100)).status, 200);
});

test('an ingest key (a server secret) has no per-network split', async () => {
  const h = harness('ingest');
  for (let i = 0; i < 4; i++) assert.equal((await h.send('127.0.2.7', 100)).status, 200);
  assert.equal((await h.send('127.0.2.7', 1)).status, 429);
});

test("a network's refusal is held before it is sent (a stranger who ignores Retry-After is slowed); other answers are not", async () => {
  const h = harness('browser', 150);
  const timed = async (ip: string, n: number) => {
    const t0 = performance.now();
    const r = await h.send(ip, n);
    return { status: r.status, ms: performance.now() - t0, retryAfter: r.headers.get('retry-after') };
  };
  assert.equal((await timed('127.0.2.7', 100)).status, 200);
  const refused = await timed('127.0.2.7', 1);
  assert.equal(refused.status, 429);
  assert.ok(refused.ms >= 140, `held ${refused.ms.toFixed(0)} ms`);
  assert.ok(Number(refused.retryAfter) >= 1, 'Retry-After still says when to come back');
  const visitor = await timed('127.0.3.5', 1);
  assert.equal(visitor.status, 200);
  assert.ok(visitor.ms < 140, `a visitor from another network answered in ${visitor.ms.toFixed(0)} ms`);
  // The key's total (an ingest key's only bucket) refuses at once: its owner is not a stranger.
  const server = harness('ingest', 150);
  await server.send('127.0.2.7', 400);
  const t0 = performance.now();
  assert.equal((await server.send('127.0.2.7', 1)).status, 429);
  assert.ok(performance.now() - t0 < 140);
});
