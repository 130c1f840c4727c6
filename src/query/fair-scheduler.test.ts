import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAppError } from '../errors/index.ts';
import { FairScheduler, type Lane } from './fair-scheduler.ts';

/** A task the test finishes by hand; `order` records when each one started. */
function harness(o: { slots: number; bulkSlots?: number; maxQueued?: number }) {
  let clock = 0;
  const waits: Array<[Lane, number]> = [];
  const s = new FairScheduler({ ...o, maxQueued: o.maxQueued ?? 100, now: () => clock, observeWait: (lane, ms) => waits.push([lane, ms]) });
  const order: string[] = [];
  const finishers = new Map<string, () => void>();
  const done: Promise<unknown>[] = [];
  function submit(tenant: string, name: string, lane: Lane = 'interactive'): Promise<string> {
    const p = s.run(tenant, lane, () => {
      order.push(name);
      return new Promise<string>((resolve) => finishers.set(name, () => resolve(name)));
    });
    done.push(p.catch(() => undefined));
    return p;
  }
  async function finish(name: string): Promise<void> {
    const f = finishers.get(name);
    assert.ok(f, `${name} is not running`);
    f();
    // Let the finally block and the next start run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  return { s, order, submit, finish, waits, tick: (ms: number) => (clock += ms), settled: () => Promise.all(done) };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('FairScheduler', () => {
  test('a tenant with eight reads queued never holds every slot: another tenant\'s read starts at once', async () => {
    const h = harness({ slots: 3 });
    for (let i = 1; i <= 8; i++) void h.submit('A', `A${i}`);
    await flush();
    // slots - 1 for one tenant: the third slot stays free.
    assert.deepEqual(h.order, ['A1', 'A2']);
    void h.submit('B', 'B1');
    await flush();
    assert.deepEqual(h.order, ['A1', 'A2', 'B1']);
    void h.submit('B', 'B2');
    await h.finish('A1');
    // A has one running, B one: A's turn was longer ago, so A3; B2 waits for the next slot.
    assert.deepEqual(h.order.slice(3), ['A3']);
    await h.finish('B1');
    assert.deepEqual(h.order.slice(4), ['B2']);
    for (const n of ['A2', 'A3', 'B2', 'A4', 'A5', 'A6', 'A7', 'A8']) await h.finish(n);
    assert.equal(h.s.stats().running, 0);
    await h.settled();
  });

  test('two slots: a heavy tenant runs one read at a time, so another tenant never waits for it', async () => {
    const h = harness({ slots: 2 });
    for (let i = 1; i <= 4; i++) void h.submit('A', `A${i}`);
    await flush();
    assert.deepEqual(h.order, ['A1']);
    void h.submit('B', 'B1');
    await flush();
    assert.deepEqual(h.order, ['A1', 'B1']);
    for (const n of ['B1', 'A1', 'A2', 'A3', 'A4']) await h.finish(n);
    await h.settled();
  });

  test('three tenants take turns round-robin when each has one slot in use', async () => {
    const h = harness({ slots: 1 });
    for (const t of ['A', 'B', 'C']) for (let i = 1; i <= 2; i++) void h.submit(t, `${t}${i}`);
    await flush();
    for (const n of ['A1', 'B1', 'C1', 'A2', 'B2']) await h.finish(n);
    assert.deepEqual(h.order, ['A1', 'B1', 'C1', 'A2', 'B2', 'C2']);
    await h.finish('C2');
    await h.settled();
  });

  test('bulk reads (exports) never take every slot: an interactive read finds one', async () => {
    const h = harness({ slots: 2 });
    for (let i = 1; i <= 4; i++) void h.submit('A', `E${i}`, 'bulk');
    await flush();
    assert.deepEqual(h.order, ['E1']);
    void h.submit('B', 'Q1');
    await flush();
    assert.deepEqual(h.order, ['E1', 'Q1']);
    assert.deepEqual(h.s.stats(), { running: 2, bulkRunning: 1, queued: 3, tenantsWaiting: 1 });
    for (const n of ['Q1', 'E1', 'E2', 'E3', 'E4']) await h.finish(n);
    await h.settled();
  });

  test('system work neither queues nor takes a slot', async () => {
    const h = harness({ slots: 1, maxQueued: 0 });
    void h.submit('A', 'A1');
    await flush();
    void h.submit('flusher', 'S1', 'system');
    await flush();
    assert.deepEqual(h.order, ['A1', 'S1']);
    assert.equal(h.s.stats().running, 1);
    await h.finish('S1');
    await h.finish('A1');
    await h.settled();
  });

  test('a full node queue refuses with 429 too_many_queries; a free slot still admits', async () => {
    const h = harness({ slots: 1, maxQueued: 1 });
    void h.submit('A', 'A1');
    void h.submit('A', 'A2');
    await flush();
    await assert.rejects(h.submit('B', 'B1'), (err: unknown) => isAppError(err) && err.code === 'too_many_queries');
    await h.finish('A1');
    await h.finish('A2');
    void h.submit('B', 'B2');
    await flush();
    assert.deepEqual(h.order, ['A1', 'A2', 'B2']);
    await h.finish('B2');
    await h.settled();
  });

  test('a failed read frees its slot, and the queue wait is measured on the injected clock', async () => {
    const h = harness({ slots: 1 });
    const failing = h.s.run('A', 'interactive', async () => {
      throw new Error('boom');
    });
    void h.submit('B', 'B1');
    await assert.rejects(failing, /boom/);
    await flush();
    assert.deepEqual(h.order, ['B1']);
    void h.submit('C', 'C1');
    h.tick(250);
    await h.finish('B1');
    assert.deepEqual(h.order, ['B1', 'C1']);
    assert.deepEqual(h.waits.at(-1), ['interactive', 250]);
    await h.finish('C1');
    await h.settled();
  });
});
