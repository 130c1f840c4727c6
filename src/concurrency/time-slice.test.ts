import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TimeSlice } from './time-slice.ts';

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('TimeSlice', () => {
  test('a long loop that pauses when due lets a waiting callback run within about one budget', async () => {
    const slice = new TimeSlice(2);
    let ranAt: number | undefined;
    const start = performance.now();
    setImmediate(() => (ranAt = performance.now() - start));
    for (let i = 0; i < 40; i++) {
      spin(0.5);
      await slice.maybePause();
    }
    const loop = performance.now() - start;
    // Unsliced, it would run only after the whole loop; sliced, after the first ~2 ms.
    assert.ok(ranAt !== undefined && ranAt < loop / 2, `the waiting callback ran after ${ranAt?.toFixed(1)} ms of a ${loop.toFixed(1)} ms loop`);
  });

  test('within its budget it never yields: a loop that fits runs unbroken', async () => {
    const slice = new TimeSlice(1_000);
    let ran = false;
    setImmediate(() => (ran = true));
    for (let i = 0; i < 10; i++) {
      spin(0.2);
      assert.equal(slice.maybePause(), undefined);
    }
    assert.equal(ran, false);
    await slice.pause();
    assert.equal(ran, true);
    assert.equal(slice.due(), false, 'a pause starts a fresh budget');
  });
});

test('the slice after a long pause is as long as the pause (fair share under load), within the cap', async () => {
  const slice = new TimeSlice(1, 12);
  spin(1.5);
  assert.equal(slice.due(), true);
  // Others hold the thread for ~8 ms during the pause: the loop then gets ~8 ms before it is due again.
  setImmediate(() => spin(8));
  await slice.pause();
  spin(2);
  assert.equal(slice.due(), false, 'an 8 ms pause buys a ~8 ms slice, not the 1 ms base');
  spin(7);
  assert.equal(slice.due(), true);
  setImmediate(() => spin(30));
  await slice.pause();
  spin(12.5);
  assert.equal(slice.due(), true, 'never longer than the cap');
});
