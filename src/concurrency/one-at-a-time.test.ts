import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OneAtATime } from './one-at-a-time.ts';

test('tasks run one after another, in the order handed in, each after the last has settled', async () => {
  const lane = new OneAtATime();
  const log: string[] = [];
  const task = (name: string, ms: number) => async () => {
    log.push(`${name} start`);
    await new Promise((r) => setTimeout(r, ms));
    log.push(`${name} end`);
    return name;
  };
  const results = await Promise.all([lane.run(task('a', 30)), lane.run(task('b', 1)), lane.run(task('c', 10))]);
  assert.deepEqual(results, ['a', 'b', 'c']);
  assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
});

test("a failed task rejects its own caller only; the next one still runs", async () => {
  const lane = new OneAtATime();
  const failed = lane.run(async () => {
    throw new Error('boom');
  });
  const next = lane.run(async () => 'ran');
  await assert.rejects(failed, /boom/);
  assert.equal(await next, 'ran');
});
