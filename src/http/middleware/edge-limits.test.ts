/**
 * The per-IP bucket in front of authentication, in-process with a fake clock:
 * no refill can happen between two requests unless the test advances time, so
 * the exact burst-then-429 sequence is asserted without timing (over real TLS
 * on a busy machine the bucket once refilled mid-burst: test/edge-limits.int.test.ts
 * keeps only the timing-free wiring checks).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { AuthFailure } from '../../auth/authenticator.ts';
import { FailureThrottle } from '../../auth/failure-throttle.ts';
import { ErrorCode } from '../../errors/index.ts';
import { TokenBuckets } from '../../limits/token-bucket.ts';
import { createLogger } from '../../log/index.ts';
import { onError } from '../errors.ts';
import type { Env } from '../types.ts';
import { ipLimits, type EdgeLimits } from './edge-limits.ts';

function clock() {
  let t = 1_700_000_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** 5 requests/s, burst 10: the numbers the integration test's server runs with. */
function app() {
  const c = clock();
  const limits: EdgeLimits = {
    buckets: new TokenBuckets({ now: c.now }),
    ipPolicy: { name: 'ip', ratePerSec: 5, burst: 10 },
    ipThrottle: new FailureThrottle({ maxFailures: 1_000, windowMs: 60_000, cooldownMs: 60_000 }, { now: c.now }),
    keyPolicy: () => ({ name: 'key', ratePerSec: 0, burst: 0 }),
    isKnownOrigin: (o) => o === 'https://shop.example',
    tarpitMs: 0,
    networkTarpitMs: 0,
    counters: { rateLimitedIp: 0, rateLimitedKey: 0, ipThrottleRefusals: 0 },
  };
  const a = new Hono<Env>();
  a.use('*', async (ctx, next) => {
    ctx.set('clientIp', ctx.req.header('x-test-ip') ?? '192.0.2.1');
    ctx.set('requestId', 'req-1');
    await next();
  });
  a.use('/v1/*', ipLimits(limits));
  // No credential: the route refuses as the real one does, after the IP limit ran.
  a.post('/v1/track', () => {
    throw new AuthFailure('missing', undefined, ErrorCode.UNAUTHORIZED, 'credentials required');
  });
  a.options('/v1/track', (ctx) => ctx.body(null, 204));
  a.onError(onError(createLogger('silent')));
  const send = (ip: string, headers: Record<string, string> = {}) => a.request('/v1/track', { method: 'POST', body: '{}', headers: { 'x-test-ip': ip, ...headers } });
  return { a, send, clock: c, limits };
}

test('per IP, before authentication: the burst passes, then 429 with Retry-After and RateLimit fields; other IPs are untouched', async () => {
  const { send, limits } = app();
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 14; i++) {
    last = await send('192.0.2.11');
    statuses.push(last.status);
  }
  assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429, 429, 429]);
  assert.ok(last);
  assert.deepEqual(((await last.json()) as { error: { code: string } }).error.code, 'rate_limited');
  assert.equal(last.headers.get('retry-after'), '1'); // one token at 5/s: 0.2 s, rounded up
  assert.equal(last.headers.get('ratelimit-policy'), '"ip";q=10;w=2');
  assert.equal(last.headers.get('ratelimit'), '"ip";r=0;t=2');
  assert.equal(limits.counters.rateLimitedIp, 4);
  const other = await send('192.0.2.12');
  assert.equal(other.status, 401);
  assert.equal(other.headers.get('ratelimit'), '"ip";r=9;t=1');
});

test('the bucket refills at the policy rate: 200 ms buys one request, 2 s the whole burst', async () => {
  const { send, clock } = app();
  for (let i = 0; i < 10; i++) assert.equal((await send('192.0.2.21')).status, 401);
  assert.equal((await send('192.0.2.21')).status, 429);
  clock.advance(199);
  assert.equal((await send('192.0.2.21')).status, 429, 'not yet one token');
  clock.advance(1);
  assert.equal((await send('192.0.2.21')).status, 401, 'one token after 200 ms');
  assert.equal((await send('192.0.2.21')).status, 429);
  clock.advance(60_000); // a long quiet spell fills the bucket to its burst, never beyond
  const statuses: number[] = [];
  for (let i = 0; i < 11; i++) statuses.push((await send('192.0.2.21')).status);
  assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
});

test('a refusal is readable from an origin some tenant allows, and only from one', async () => {
  const { send } = app();
  for (let i = 0; i < 10; i++) await send('192.0.2.31');
  const allowed = await send('192.0.2.31', { origin: 'https://shop.example' });
  assert.equal(allowed.status, 429);
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://shop.example');
  assert.match(allowed.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
  const foreign = await send('192.0.2.31', { origin: 'https://evil.example' });
  assert.equal(foreign.status, 429);
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
});

test('a preflight is never charged', async () => {
  const { a, send } = app();
  for (let i = 0; i < 20; i++) {
    const pre = await a.request('/v1/track', { method: 'OPTIONS', headers: { 'x-test-ip': '192.0.2.41' } });
    assert.equal(pre.status, 204);
  }
  assert.equal((await send('192.0.2.41')).headers.get('ratelimit'), '"ip";r=9;t=1');
});
