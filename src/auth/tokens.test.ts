import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newKeyId, newSecretToken, parseToken, publishableKey, tokenFromBasic } from './tokens.ts';

test('a new secret token parses back to its key id and secret', () => {
  const id = newKeyId();
  const { token, secret } = newSecretToken(id);
  assert.match(token, /^pal_sk_[0-9A-Za-z]{16}_[0-9A-Za-z]{28}$/);
  assert.deepEqual(parseToken(token), { kind: 'secret', keyId: id, secret, token });
});

test('secrets are unique and carry at least 128 bits', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) seen.add(newSecretToken('AAAAAAAAAAAAAAAA').secret);
  assert.equal(seen.size, 2000);
  assert.ok(22 * Math.log2(62) >= 128);
});

test('a mistyped character fails the checksum before any lookup', () => {
  const { token } = newSecretToken(newKeyId());
  const i = 30;
  const flipped = token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
  assert.equal(parseToken(flipped), 'bad_checksum');
});

test('malformed tokens are refused', () => {
  for (const bad of ['', 'x', 'pal_sk_', 'pal_sk_short_abc', `pal_sk_${'A'.repeat(16)}-${'B'.repeat(28)}`, 'pal_pk_tooShort', `pal_pk_${'A'.repeat(15)}!`, 'Bearer x', 'pal_sk_' + 'A'.repeat(200)]) {
    assert.equal(parseToken(bad), 'malformed', bad);
  }
});

test('publishable keys parse without a secret', () => {
  const id = newKeyId();
  assert.deepEqual(parseToken(publishableKey(id)), { kind: 'publishable', keyId: id, token: `pal_pk_${id}` });
});

test('HTTP Basic: whole token as user, or key id and secret as user and password', () => {
  const id = newKeyId();
  const { token } = newSecretToken(id);
  assert.equal(tokenFromBasic(token, ''), token);
  const password = token.slice(7 + 16 + 1);
  assert.equal(tokenFromBasic(id, password), token);
  assert.equal(tokenFromBasic(`pal_sk_${id}`, password), token);
});
