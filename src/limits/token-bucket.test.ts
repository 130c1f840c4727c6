import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyHeader, rateLimitHeader, TokenBuckets, type BucketPolicy } from './token-bucket.ts';

const policy: BucketPolicy = { name: 'key', ratePerSec: 10, burst: 20 };

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a fresh bucket admits a burst, then refuses with the wait for one token', () => {
  const c = clock();
  const b = new TokenBuckets({ now: c.now });
  for (let i = 0; i < 20; i++) assert.equal(b.take('k', policy).allowed, true, `request ${i}`);
  const refused = b.take('k', policy);
  assert.deepEqual({ ...refused, policy: undefined }, { allowed: false, policy: undefined, remaining: 0, resetSeconds: 2, retryAfterSeconds: 1 });
  c.advance(100); // one token at 10/s
  assert.equal(b.take('k', policy).allowed, true);
  assert.equal(b.take('k', policy).allowed, false);
});

test('a batch bigger than what is left still goes through once, and its debt is waited off', () => {
  const c = clock();
  const b = new TokenBuckets({ now: c.now });
  assert.equal(b.take('k', policy, 50).allowed, true); // 20 - 50 = -30
  const r = b.take('k', policy);
  assert.equal(r.allowed, false);
  assert.equal(r.retryAfterSeconds, 4); // (1 - -30) / 10 = 3.1 → 4
  c.advance(3_100);
  assert.equal(b.take('k', policy).allowed, true);
});

test('the long-run rate never exceeds the policy', () => {
  const c = clock();
  const b = new TokenBuckets({ now: c.now });
  let admitted = 0;
  for (let ms = 0; ms < 10_000; ms += 5) {
    c.advance(5);
    if (b.take('k', policy).allowed) admitted++;
  }
  // burst + rate × 10 s
  assert.ok(admitted <= 20 + 100 + 1, String(admitted));
  assert.ok(admitted >= 100, String(admitted));
});

test('keys are independent; peek charges nothing; rate 0 is no limit', () => {
  const c = clock();
  const b = new TokenBuckets({ now: c.now });
  for (let i = 0; i < 20; i++) b.take('a', policy);
  assert.equal(b.take('a', policy).allowed, false);
  assert.equal(b.peek('b', policy).allowed, true);
  assert.equal(b.peek('b', policy).remaining, 20);
  const off = { name: 'ip', ratePerSec: 0, burst: 1 };
  for (let i = 0; i < 1000; i++) assert.equal(b.take('x', off).allowed, true);
  assert.equal(b.size, 2);
});

test('memory is bounded: past maxKeys the least recently used bucket is forgotten', () => {
  const b = new TokenBuckets({ maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) b.take(`ip:${i}`, policy);
  assert.equal(b.size, 100);
});

test('headers follow draft-ietf-httpapi-ratelimit-headers: quota, window, remaining, reset', () => {
  const c = clock();
  const b = new TokenBuckets({ now: c.now });
  const d = b.take('k', policy, 5);
  assert.equal(policyHeader(policy), '"key";q=20;w=2');
  assert.equal(rateLimitHeader(d), '"key";r=15;t=1');
});
