import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Authenticator, AuthFailure } from './authenticator.ts';
import { FailureThrottle } from './failure-throttle.ts';
import { KeyTable } from './key-table.ts';
import { newKeyId, newSecretToken } from './tokens.ts';

test('the limit-th failure in a window starts a cool-down, once; it ends on time', () => {
  let now = 0;
  const t = new FailureThrottle({ maxFailures: 3, windowMs: 60_000, cooldownMs: 30_000 }, { now: () => now });
  assert.equal(t.fail('ip'), false);
  assert.equal(t.fail('ip'), false);
  assert.equal(t.blockedFor('ip'), 0);
  assert.equal(t.fail('ip'), true);
  assert.equal(t.fail('ip'), false, 'failures during the cool-down do not start another');
  assert.equal(t.blockedFor('ip'), 30);
  assert.equal(t.blockedFor('other'), 0);
  now += 29_500;
  assert.equal(t.blockedFor('ip'), 1);
  now += 600;
  assert.equal(t.blockedFor('ip'), 0);
  assert.deepEqual(t.counters, { engaged: 1, refused: 2 });
});

test('failures spread wider than the window never add up', () => {
  let now = 0;
  const t = new FailureThrottle({ maxFailures: 3, windowMs: 1_000, cooldownMs: 30_000 }, { now: () => now });
  for (let i = 0; i < 20; i++) {
    assert.equal(t.fail('k'), false);
    now += 600;
  }
});

async function setup() {
  const keyId = newKeyId();
  const { token, secret } = newSecretToken(keyId);
  const keys = new KeyTable();
  keys.replace({
    keys: [{ id: keyId, tenantId: 'ten_A', scope: 'ingest', secretHash: await Authenticator.hashSecret(secret), revoked: false }],
    tenants: [{ id: 'ten_A', name: 'a', allowedOrigins: [], deleted: false }],
  });
  const engaged: string[] = [];
  const keyThrottle = new FailureThrottle({ maxFailures: 3, windowMs: 60_000, cooldownMs: 60_000 });
  const auth = new Authenticator({ keys, cacheTtlMs: 60_000, argon2Concurrency: 2, keyThrottle, onKeyThrottled: (k, t) => engaged.push(`${k}/${t}`) });
  return { auth, token, keyId, engaged };
}

test('after the key limit, wrong secrets for that key id are refused 429 without argon2', async () => {
  const { auth, keyId, engaged } = await setup();
  const reasons: string[] = [];
  for (let i = 0; i < 10; i++) {
    try {
      await auth.authenticate(newSecretToken(keyId).token);
    } catch (err) {
      assert.ok(err instanceof AuthFailure);
      reasons.push(`${err.reason}/${err.status}${err.retryAfter ? `/ra${err.retryAfter > 0 ? '+' : ''}` : ''}`);
    }
  }
  assert.deepEqual(reasons, [...Array(3).fill('wrong_secret/401'), ...Array(7).fill('throttled/429/ra+')]);
  assert.equal(auth.counters.argon2, 3);
  assert.deepEqual(engaged, [`${keyId}/ten_A`]);
});

test('a token verified before the cool-down keeps working during it (an attacker cannot lock a caller out)', async () => {
  const { auth, token, keyId } = await setup();
  await auth.authenticate(token);
  for (let i = 0; i < 5; i++) await auth.authenticate(newSecretToken(keyId).token).catch(() => undefined);
  assert.deepEqual(await auth.authenticate(token), { tenantId: 'ten_A', keyId, scope: 'ingest' });
  assert.equal(auth.counters.argon2, 4);
});
