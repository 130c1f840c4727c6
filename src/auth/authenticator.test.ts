import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Authenticator, AuthFailure } from './authenticator.ts';
import { KeyTable } from './key-table.ts';
import { newKeyId, newSecretToken, publishableKey } from './tokens.ts';

async function setup(cacheTtlMs = 60_000) {
  const ingestId = newKeyId();
  const { token, secret } = newSecretToken(ingestId);
  const browserId = newKeyId();
  const keys = new KeyTable();
  keys.replace({
    keys: [
      { id: ingestId, tenantId: 'ten_A', scope: 'ingest', secretHash: await Authenticator.hashSecret(secret), revoked: false },
      { id: browserId, tenantId: 'ten_A', scope: 'browser', secretHash: '', revoked: false },
    ],
    tenants: [{ id: 'ten_A', name: 'a', allowedOrigins: ['https://a.example'], deleted: false }],
  });
  const auth = new Authenticator({ keys, cacheTtlMs, argon2Concurrency: 2 });
  return { auth, keys, token, ingestId, browserId, secret };
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AuthFailure);
    return `${err.reason}/${err.code}/${err.status}`;
  }
  return 'accepted';
}

test('a valid token yields its tenant, key and scope; the second check hits the cache', async () => {
  const { auth, token, ingestId } = await setup();
  assert.deepEqual(await auth.authenticate(token), { tenantId: 'ten_A', keyId: ingestId, scope: 'ingest' });
  await auth.authenticate(token);
  assert.deepEqual(auth.counters, { argon2: 1, cacheHits: 1, knownClientBypass: 0 });
});

test('each failure has its own reason and status, and only a wrong secret costs an argon2 run', async () => {
  const { auth, ingestId } = await setup();
  assert.equal(await reason(auth.authenticate(undefined)), 'missing/unauthorized/401');
  assert.equal(await reason(auth.authenticate('garbage')), 'malformed/malformed_credential/401');
  const other = newSecretToken(ingestId).token;
  const flipped = other.slice(0, 30) + (other[30] === 'a' ? 'b' : 'a') + other.slice(31);
  assert.equal(await reason(auth.authenticate(flipped)), 'bad_checksum/malformed_credential/401');
  assert.equal(await reason(auth.authenticate(newSecretToken(newKeyId()).token)), 'unknown_key/invalid_credential/401');
  assert.equal(auth.counters.argon2, 0);
  assert.equal(await reason(auth.authenticate(other)), 'wrong_secret/invalid_credential/401');
  assert.equal(auth.counters.argon2, 1);
});

test('revocation takes effect on the next table refresh even for a cached token', async () => {
  const { auth, keys, token, ingestId, secret } = await setup();
  await auth.authenticate(token);
  keys.replace({
    keys: [{ id: ingestId, tenantId: 'ten_A', scope: 'ingest', secretHash: await Authenticator.hashSecret(secret), revoked: true }],
    tenants: [{ id: 'ten_A', name: 'a', allowedOrigins: [], deleted: false }],
  });
  assert.equal(await reason(auth.authenticate(token)), 'revoked/revoked_credential/401');
});

test('publishable keys authenticate as browser scope; a secret-looking token for a browser key id does not', async () => {
  const { auth, browserId } = await setup();
  assert.deepEqual(await auth.authenticate(publishableKey(browserId)), { tenantId: 'ten_A', keyId: browserId, scope: 'browser' });
  assert.equal(await reason(auth.authenticate(newSecretToken(browserId).token)), 'wrong_secret/invalid_credential/401');
});

test('concurrent first requests with one valid credential share one argon2 run; wrong secrets are each checked', async () => {
  const { auth, token, ingestId } = await setup();
  const principals = await Promise.all(Array.from({ length: 32 }, () => auth.authenticate(token, { ip: '192.0.2.7' })));
  assert.ok(principals.every((p) => p.keyId === ingestId && p.tenantId === 'ten_A'));
  assert.equal(auth.counters.argon2, 1);
  const wrong = newSecretToken(ingestId).token;
  const results = await Promise.all(Array.from({ length: 3 }, () => reason(auth.authenticate(wrong))));
  assert.deepEqual(results, Array(3).fill('wrong_secret/invalid_credential/401'));
  assert.equal(auth.counters.argon2, 4, 'a failure is never shared: each wrong secret costs its own check');
});

test('argon2 runs under the concurrency cap and a flood past the queue bound is refused at once', async () => {
  const { keys, ingestId } = await setup();
  const auth = new Authenticator({ keys, cacheTtlMs: 0, argon2Concurrency: 1, maxQueued: 4 });
  const attempts = Array.from({ length: 12 }, () => reason(auth.authenticate(newSecretToken(ingestId).token)));
  const results = await Promise.all(attempts);
  assert.ok(results.filter((r) => r.startsWith('overloaded/rate_limited/429')).length >= 6, results.join(','));
  assert.ok(auth.counters.argon2 <= 6);
});
