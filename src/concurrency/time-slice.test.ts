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
  // Checked on the budget, not on due() between spins: on a loaded machine a
  // preemption can stretch any wall-clock interval, but it only makes a pause longer.
  const slice = new TimeSlice(1, 12);
  assert.equal(slice.sliceMs, 1);
  spin(1.5);
  assert.equal(slice.due(), true);
  // Others hold the thread for ~8 ms during the pause: the loop then gets that long before it is due again.
  setImmediate(() => spin(8));
  let from = performance.now();
  await slice.pause();
  let paused = performance.now() - from;
  assert.ok(slice.sliceMs >= 8 && slice.sliceMs <= Math.min(12, paused), `an 8 ms pause (${paused.toFixed(1)} ms measured) bought a ${slice.sliceMs.toFixed(1)} ms slice`);
  spin(slice.sliceMs + 0.5);
  assert.equal(slice.due(), true);
  setImmediate(() => spin(30));
  from = performance.now();
  await slice.pause();
  paused = performance.now() - from;
  assert.equal(slice.sliceMs, 12, `never longer than the cap (a ${paused.toFixed(1)} ms pause)`);
  // A short pause (nothing waiting) brings the budget back down with it.
  from = performance.now();
  await slice.pause();
  paused = performance.now() - from;
  const after: number = slice.sliceMs;
  assert.ok(after >= 1 && after <= Math.max(1, paused), `a ${paused.toFixed(2)} ms pause bought a ${after.toFixed(2)} ms slice`);
});
