import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Spool } from './spool/spool.ts';
import { immediateBudget, Runner, type Module } from './runner.ts';

/** A module that writes every lifecycle call it gets into `log`. */
function recorder(log: string[], name: string, fail: { start?: boolean; drain?: boolean; stop?: boolean } = {}): Module {
  const step = (phase: string, failing?: boolean) => () => {
    log.push(`${phase} ${name}`);
    if (failing) throw new Error(`${name} ${phase} failed`);
  };
  return { name, start: step('start', fail.start), drain: step('drain', fail.drain), stop: step('stop', fail.stop) };
}

const budget = immediateBudget();

test('opens and starts in order; stops newest first, draining every module before stopping any', async () => {
  const log: string[] = [];
  const runner = new Runner(() => assert.fail('nothing fails here'));
  for (const name of ['a', 'b', 'c']) {
    await runner.open(() => {
      log.push(`open ${name}`);
      return recorder(log, name);
    });
  }
  await runner.start();
  assert.deepEqual(runner.names, ['a', 'b', 'c']);
  await runner.stop(budget);
  assert.deepEqual(log, ['open a', 'open b', 'open c', 'start a', 'start b', 'start c', 'drain c', 'drain b', 'drain a', 'stop c', 'stop b', 'stop a']);
});

test('a module that fails to open: the ones opened before it are unwound in reverse, the error goes on', async () => {
  const log: string[] = [];
  const runner = new Runner(() => assert.fail('no unwind step fails here'));
  await runner.open(() => recorder(log, 'a'));
  await runner.open(() => recorder(log, 'b'));
  await assert.rejects(
    runner.open(async () => {
      throw new Error('c cannot open');
    }),
    /c cannot open/,
  );
  assert.deepEqual(log, ['drain b', 'drain a', 'stop b', 'stop a']);
  // Nothing was started: a failed start-up has nothing running behind it.
  assert.ok(!log.some((l) => l.startsWith('start')));
});

test('a module that fails to start: every opened module is unwound, the later ones too', async () => {
  const log: string[] = [];
  const runner = new Runner(() => assert.fail('no unwind step fails here'));
  await runner.open(() => recorder(log, 'a'));
  await runner.open(() => recorder(log, 'b', { start: true }));
  await runner.open(() => recorder(log, 'c'));
  await assert.rejects(runner.start(), /b start failed/);
  assert.deepEqual(log, ['start a', 'start b', 'drain c', 'drain b', 'drain a', 'stop c', 'stop b', 'stop a']);
});

test('a failing drain or stop is reported and does not keep the modules below it open', async () => {
  const log: string[] = [];
  const failures: string[] = [];
  const runner = new Runner((module, phase, err) => failures.push(`${module} ${phase}: ${(err as Error).message}`));
  await runner.open(() => recorder(log, 'a'));
  await runner.open(() => recorder(log, 'b', { drain: true, stop: true }));
  await runner.open(() => recorder(log, 'c'));
  await runner.start();
  log.length = 0;
  await runner.stop(budget);
  assert.deepEqual(log, ['drain c', 'drain b', 'drain a', 'stop c', 'stop b', 'stop a']);
  assert.deepEqual(failures, ['b drain: b drain failed', 'b stop: b stop failed']);
});

test('stop twice: one unwinding, the second call waits for it', async () => {
  const log: string[] = [];
  const runner = new Runner(() => undefined);
  await runner.open(() => ({ name: 'slow', stop: async () => void (await new Promise((r) => setTimeout(r, 20)), log.push('stopped')) }));
  await Promise.all([runner.stop(budget), runner.stop(budget)]);
  assert.deepEqual(log, ['stopped']);
});

test('a real spool opened before a module that fails to open is closed by the unwinding', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'palisade-runner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runner = new Runner(() => assert.fail('closing the spool does not fail'));
  const ingestion = await runner.open(async () => {
    const { spool } = await Spool.open({ dir, keys: new Map([['k1', Buffer.alloc(32, 7)]]), currentKeyId: 'k1', fsync: true, maxBytes: 1 << 20 });
    return { name: 'ingestion', spool, stop: () => spool.close() };
  });
  await ingestion.spool.append(Buffer.from('{"tenantId":"ten_000000000000","rows":[]}'));
  await assert.rejects(
    runner.open(() => {
      throw new Error('the key table could not be loaded');
    }),
    /key table/,
  );
  // A closed spool refuses appends; an open one would take them (and keep its file open).
  await assert.rejects(ingestion.spool.append(Buffer.from('{}')), /spool is closed/);
});
