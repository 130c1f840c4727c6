import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Argon2Verifier } from './argon2-verifier.ts';
import { Authenticator } from './authenticator.ts';

/** A process's nice value (Linux: field 19 of /proc/PID/stat). */
const niceOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('verifies the right secret and refuses a wrong one in a process at nice 19; a hash it cannot read is an error, not a refusal', async () => {
  const hash = await Authenticator.hashSecret('s3cret-value');
  const v = new Argon2Verifier(2);
  try {
    assert.deepEqual(await Promise.all([v.verify(hash, 's3cret-value'), v.verify(hash, 'wrong'), v.verify(hash, 's3cret-value')]), [true, false, true]);
    await assert.rejects(v.verify('not-a-hash', 'x'), /could not read the stored hash/);
    assert.ok(v.pid !== undefined && v.pid !== process.pid);
    assert.equal(v.niced, true);
    assert.equal(niceOf(v.pid), 19);
  } finally {
    await v.close();
  }
});

test('close() refuses a verification in flight and ends the process; the next call starts another', async () => {
  const hash = await Authenticator.hashSecret('s3cret-value');
  const v = new Argon2Verifier(1);
  const inFlight = v.verify(hash, 'wrong');
  const first = v.pid!;
  await v.close();
  await assert.rejects(inFlight, /exited/);
  assert.equal(alive(first), false);
  try {
    assert.equal(await v.verify(hash, 's3cret-value'), true);
    assert.notEqual(v.pid, first);
  } finally {
    await v.close();
  }
});

test('the verifier process ends when its parent is killed (SIGKILL: no shutdown runs)', async () => {
  const script = fileURLToPath(new URL('./argon2-child.cjs', import.meta.url));
  const parent = spawn(process.execPath, ['-e', `const c = require('node:child_process').fork(${JSON.stringify(script)}); console.log(c.pid); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
  assert.equal(alive(pid), true);
  parent.kill('SIGKILL');
  const deadline = Date.now() + 5_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(pid), false, 'the orphaned verifier exited');
});
