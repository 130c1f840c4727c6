import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { Argon2Verifier } from './argon2-verifier.ts';
import { Authenticator } from './authenticator.ts';

/** The nice value of each of this process's threads (Linux: field 19 of /proc/self/task/N/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((t) => Number(readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
}

test('verifies the right secret, refuses a wrong one and a hash that does not decode, on threads at nice 19', async () => {
  const hash = await Authenticator.hashSecret('s3cret-value');
  const nicedBefore = threadNices().filter((n) => n === 19).length;
  const v = new Argon2Verifier(2);
  try {
    const results = await Promise.all([v.verify(hash, 's3cret-value'), v.verify(hash, 'wrong'), v.verify('not-a-hash', 'x'), v.verify(hash, 's3cret-value')]);
    assert.deepEqual(results, [true, false, false, true]);
    assert.equal(v.niced.length, 2, 'two threads for two at once');
    assert.deepEqual(await Promise.all(v.niced), [true, true]);
    assert.equal(threadNices().filter((n) => n === 19).length, nicedBefore + 2, 'the two verifier threads run at nice 19');
  } finally {
    await v.close();
  }
});

test('a hash from the previous argon2 library (node-argon2: m,p,t order) still verifies', async () => {
  // Made by the `argon2` package with the same profile, as key tables written before hold.
  const old = '$argon2id$v=19$m=19456,p=1,t=2$IRx+nbu+7u/6i9X8N91Djg$pSQR9XxJZYCQL4ekH+tO/A+jRv1nOxoifCVWhhf6vcU';
  const v = new Argon2Verifier(1);
  try {
    assert.equal(await v.verify(old, 'correct horse'), true);
    assert.equal(await v.verify(old, 'correct horsE'), false);
  } finally {
    await v.close();
  }
});

test('close() refuses a verification in flight, and the next call starts a thread again', async () => {
  const hash = await Authenticator.hashSecret('s3cret-value');
  const v = new Argon2Verifier(1);
  const inFlight = v.verify(hash, 'wrong');
  await v.close();
  await assert.rejects(inFlight, /exited/);
  try {
    assert.equal(await v.verify(hash, 's3cret-value'), true);
  } finally {
    await v.close();
  }
});
