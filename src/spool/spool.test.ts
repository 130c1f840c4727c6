import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { AppError, ErrorCode } from '../errors/index.ts';
import { writeFormatOneSpool } from '../../test/helpers/spool-format-one.ts';
import { decodeSegmentHeader, scanFrame } from './record.ts';
import { segmentName } from './segment-files.ts';
import { Spool, type SpoolOptions } from './spool.ts';

const root = await mkdtemp(path.join(os.tmpdir(), 'palisade-spool-'));
after(() => rm(root, { recursive: true, force: true }));

const k1 = randomBytes(32);
const k2 = randomBytes(32);
let n = 0;
function options(extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir: path.join(root, `s${n++}`), keys: new Map([['k1', k1]]), currentKeyId: 'k1', ...extra };
}
const p = (i: number) => Buffer.from(`payload-${i}`);

async function readAll(spool: Spool, from = spool.checkpoint()) {
  return await spool.read(from, { maxRecords: 100_000 });
}
const texts = (entries: { payload: Buffer }[]) => entries.map((e) => e.payload.toString());

/** The frames of a segment file, as [start, end] byte ranges, and its format. */
async function framesOf(file: string): Promise<{ format: number; frames: [number, number][] }> {
  const buf = await readFile(file);
  const h = decodeSegmentHeader(buf);
  assert.ok(h.ok);
  const frames: [number, number][] = [];
  for (let pos = h.bytes.length; ;) {
    const f = scanFrame(buf, pos);
    if (f.kind !== 'frame') break;
    frames.push([pos, f.end]);
    pos = f.end;
  }
  return { format: h.header.format, frames };
}

async function flipByte(file: string, at: number): Promise<void> {
  const fd = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await fd.read(byte, 0, 1, at);
  await fd.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
  await fd.close();
}

describe('spool', () => {
  test('200 concurrent appends are all durable, read back in order, with far fewer fsyncs', async () => {
    const { spool, report } = await Spool.open(options());
    assert.deepEqual({ records: report.records, quarantined: report.quarantined, torn: report.tornTail }, { records: 0, quarantined: 0, torn: undefined });
    await Promise.all(Array.from({ length: 200 }, (_, i) => spool.append(p(i))));
    const { entries, next } = await readAll(spool);
    assert.deepEqual(texts(entries), Array.from({ length: 200 }, (_, i) => `payload-${i}`));
    assert.deepEqual(next, entries[199]?.end);
    const st = spool.stats();
    assert.equal(st.records, 200);
    assert.ok(st.fsyncs >= 1 && st.fsyncs <= 10, `group commit used ${st.fsyncs} fsyncs for 200 appends`);
    assert.ok(st.oldestAppendedAt !== null && Date.now() - st.oldestAppendedAt < 60_000);
    await spool.close();
  });

  test('appends arriving while an fsync is in flight share the next one', async () => {
    const { spool } = await Spool.open(options());
    const waves: Promise<void>[] = [];
    for (let w = 0; w < 5; w++) {
      for (let i = 0; i < 40; i++) waves.push(spool.append(p(w * 40 + i)));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waves);
    assert.ok(spool.stats().fsyncs < 40, `used ${spool.stats().fsyncs} fsyncs`);
    assert.equal((await readAll(spool)).entries.length, 200);
    await spool.close();
  });

  test('each group commit reports how long it took to become durable and how many appends it carried; a failed one reports nothing', async () => {
    const groups: { seconds: number; records: number }[] = [];
    let fail = false;
    const { spool } = await Spool.open(options({ onGroupCommit: (seconds, records) => groups.push({ seconds, records }), faults: { beforeSync: () => { if (fail) throw new Error('EIO'); } } }));
    await Promise.all(Array.from({ length: 60 }, (_, i) => spool.append(p(i))));
    assert.equal(groups.reduce((n, g) => n + g.records, 0), 60, 'every acknowledged append is counted once');
    assert.equal(groups.length, spool.stats().fsyncs, 'one report per group commit');
    assert.ok(groups.length < 60, `the appends shared group commits (${groups.length})`);
    assert.ok(groups.every((g) => g.seconds > 0 && g.seconds < 10), JSON.stringify(groups));
    fail = true;
    await assert.rejects(spool.append(p(60)));
    assert.equal(groups.reduce((n, g) => n + g.records, 0), 60, 'a group that did not become durable is not reported');
    await spool.close();
    const { spool: observed } = await Spool.open(options({ onGroupCommit: () => { throw new Error('a broken metric'); } }));
    await observed.append(p(0));
    await observed.append(p(1));
    assert.equal((await readAll(observed)).entries.length, 2, 'an observer that throws fails neither the append nor the next one');
    await observed.close();
  });

  test('a group commit is sealed as one frame; read hands out its records and never part of it', async () => {
    const opts = options();
    const { spool } = await Spool.open(opts);
    await spool.append(p(0));
    await Promise.all([1, 2, 3, 4, 5].map((i) => spool.append(p(i))));
    await spool.append(p(6));
    const { format, frames } = await framesOf(path.join(opts.dir, segmentName(1)));
    assert.equal(format, 2);
    assert.equal(frames.length, 3, 'one frame per group commit');
    const all = await readAll(spool);
    assert.deepEqual(texts(all.entries), ['payload-0', 'payload-1', 'payload-2', 'payload-3', 'payload-4', 'payload-5', 'payload-6']);
    assert.deepEqual(all.entries.map((e) => e.index), [0, 0, 1, 2, 3, 4, 0]);
    assert.deepEqual(all.entries.map((e) => e.end.offset), [frames[0]![1], ...Array<number>(5).fill(frames[1]![1]), frames[2]![1]]);
    // Two records asked for: the first frame, then the whole of the second.
    const a = await spool.read(spool.checkpoint(), { maxRecords: 2 });
    assert.deepEqual(texts(a.entries), ['payload-0', 'payload-1', 'payload-2', 'payload-3', 'payload-4', 'payload-5']);
    await spool.commit(a.next);
    assert.equal(spool.stats().records, 1);
    await spool.close();
    const { spool: reopened, report } = await Spool.open(opts);
    assert.equal(report.records, 1);
    assert.deepEqual(texts((await readAll(reopened)).entries), ['payload-6']);
    await reopened.close();
  });

  test('a group frame torn by a crash is dropped whole: none of its records had been acknowledged', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    await first.spool.append(p(0));
    await Promise.all([1, 2, 3].map((i) => first.spool.append(p(i))));
    // No close: the process dies with the group's write cut short (its fsync never returned, so no 200 went out).
    const file = path.join(opts.dir, segmentName(1));
    const { frames } = await framesOf(file);
    await truncate(file, frames[1]![1] - 7);
    const { spool, report } = await Spool.open(opts);
    assert.ok(report.tornTail);
    assert.equal(report.records, 1);
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-0']);
    await spool.append(p(4));
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-0', 'payload-4']);
    await spool.close();
    await first.spool.close().catch(() => undefined);
  });

  test('a group larger than the frame cap is split into frames, each under it', async () => {
    const opts = options();
    const { spool } = await Spool.open(opts);
    const big = (i: number) => Buffer.alloc(12 * 1024 * 1024, i);
    await Promise.all([1, 2, 3].map((i) => spool.append(big(i))));
    const { frames } = await framesOf(path.join(opts.dir, segmentName(1)));
    assert.equal(frames.length, 2, 'two 12 MiB records fit under 32 MiB, the third starts a frame');
    const { entries } = await spool.read(spool.checkpoint(), { maxBytes: 64 * 1024 * 1024 });
    assert.deepEqual(entries.map((e) => [e.payload[0], e.payload.length, e.index]), [[1, 12 * 1024 * 1024, 0], [2, 12 * 1024 * 1024, 1], [3, 12 * 1024 * 1024, 0]]);
    await spool.close();
  });

  test('a spool the release before wrote (segment format 1) resumes at its checkpoint; new appends go to a format-2 segment', async () => {
    const dir = path.join(root, `s${n++}`);
    const { spool, report } = await Spool.open(await writeFormatOneSpool(dir));
    assert.deepEqual({ records: report.records, quarantined: report.quarantined, torn: report.tornTail }, { records: 2, quarantined: 0, torn: undefined });
    await Promise.all([p(10), p(11)].map((x) => spool.append(x)));
    const all = await readAll(spool);
    assert.equal(all.entries.length, 4);
    assert.deepEqual(all.entries.map((e) => [e.end.seq, e.index]), [[1, 0], [1, 0], [2, 0], [2, 1]]);
    assert.deepEqual(texts(all.entries.slice(2)), ['payload-10', 'payload-11']);
    assert.equal((await framesOf(path.join(dir, segmentName(2)))).format, 2);
    await spool.commit(all.next);
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('seg-')), [segmentName(2)]);
    await spool.close();
  });

  test('read honours maxRecords and maxBytes, and always returns at least one record', async () => {
    const { spool } = await Spool.open(options());
    for (let i = 0; i < 10; i++) await spool.append(p(i));
    const a = await spool.read(spool.checkpoint(), { maxRecords: 3 });
    assert.deepEqual(texts(a.entries), ['payload-0', 'payload-1', 'payload-2']);
    const b = await spool.read(a.next, { maxBytes: 1 });
    assert.deepEqual(texts(b.entries), ['payload-3']);
    await spool.close();
  });

  test('reopen resumes after the committed checkpoint', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    for (let i = 0; i < 10; i++) await first.spool.append(p(i));
    const { entries } = await first.spool.read(first.spool.checkpoint(), { maxRecords: 4 });
    await first.spool.commit(entries[3]!.end);
    await first.spool.close();

    const { spool, report } = await Spool.open(opts);
    assert.deepEqual(report.checkpoint, entries[3]!.end);
    assert.equal(spool.stats().records, 6);
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-4', 'payload-5', 'payload-6', 'payload-7', 'payload-8', 'payload-9']);
    await spool.append(p(10));
    assert.equal((await readAll(spool)).entries.at(-1)?.payload.toString(), 'payload-10');
    await assert.rejects(spool.commit({ seq: 0, offset: 0 }), /backwards/);
    await assert.rejects(spool.commit({ seq: 99, offset: 0 }), /durable/);
    await spool.close();
  });

  test('read returns only records whose fsync has completed', async () => {
    let during: Promise<{ entries: unknown[] }> | undefined;
    const { spool } = await Spool.open(options({ faults: { beforeSync: () => { during ??= spool.read(spool.checkpoint()); } } }));
    await spool.append(p(0));
    assert.equal((await during)?.entries.length, 0, 'a read racing the first fsync sees nothing');
    await spool.append(p(1));
    assert.equal((await readAll(spool)).entries.length, 2);
    await spool.close();
  });

  test('a record damaged on disk after open is quarantined at read time and skipped', async () => {
    const opts = options();
    const { spool } = await Spool.open(opts);
    for (let i = 0; i < 3; i++) await spool.append(p(i));
    const { entries } = await readAll(spool);
    await flipByte(path.join(opts.dir, segmentName(1)), entries[0]!.end.offset + 20);
    const again = await readAll(spool);
    assert.deepEqual(texts(again.entries), ['payload-0', 'payload-2']);
    assert.deepEqual(again.next, entries[2]!.end);
    assert.equal(spool.stats().quarantined, 1);
    assert.equal((await readdir(path.join(opts.dir, 'quarantine'))).length, 1);
    await spool.close();
  });

  test('size cap: SPOOL_FULL with Retry-After, and appends resume once a commit frees space', async () => {
    const { spool } = await Spool.open(options({ maxBytes: 600, retryAfterSeconds: 3 }));
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 100 && !refusal; i++) {
      try {
        await spool.append(Buffer.alloc(50, 1));
        accepted += 1;
      } catch (err) {
        refusal = err;
      }
    }
    assert.ok(refusal instanceof AppError);
    assert.equal(refusal.code, ErrorCode.SPOOL_FULL);
    assert.equal(refusal.retryAfter, 3);
    assert.equal(spool.isFull(), true);
    assert.ok(accepted > 0 && spool.stats().bytes >= 600);
    const { next } = await readAll(spool);
    await spool.commit(next);
    assert.equal(spool.isFull(), false);
    await spool.append(Buffer.alloc(50, 2));
    assert.equal(spool.stats().records, 1);
    await spool.close();
  });

  test('segments rotate at segmentBytes and are deleted once committed past', async () => {
    const opts = options({ segmentBytes: 1024 });
    const { spool } = await Spool.open(opts);
    for (let i = 0; i < 20; i++) await spool.append(Buffer.alloc(200, i));
    const files = () => readdir(opts.dir).then((f) => f.filter((x) => x.startsWith('seg-')));
    const before = await files();
    assert.ok(before.length >= 5, `only ${before.length} segments`);
    assert.equal(spool.stats().segments, before.length);
    const all = await readAll(spool);
    assert.equal(all.entries.length, 20);
    await spool.commit(all.entries[9]!.end);
    const after = await files();
    assert.ok(after.length < before.length && after.length > 1);
    assert.equal(spool.stats().records, 10);
    await spool.commit(all.next);
    assert.deepEqual(await files(), [before.at(-1)]);
    await spool.close();
  });

  test('keys rotate: old segments stay readable, new ones use the new key; a missing key is refused', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    await first.spool.append(p(0));
    await first.spool.close();
    const rotated = { ...opts, keys: new Map([['k1', k1], ['k2', k2]]), currentKeyId: 'k2' };
    const second = await Spool.open(rotated);
    await second.spool.append(p(1));
    assert.deepEqual(texts((await readAll(second.spool)).entries), ['payload-0', 'payload-1']);
    await second.spool.close();
    const header = await readFile(path.join(opts.dir, segmentName(2)));
    assert.equal(header.subarray(0, 8).toString(), 'PALSPOOL');
    assert.ok(header.includes(Buffer.from('k2')));
    await assert.rejects(Spool.open({ ...opts, keys: new Map([['k2', k2]]), currentKeyId: 'k2' }), /key id "k1"/);
  });

  test('a failed write/fsync rejects its whole group and every later append until reopened', async () => {
    let fail = false;
    const opts = options({ faults: { beforeSync: () => { if (fail) throw new Error('EIO'); } } });
    const { spool } = await Spool.open(opts);
    await spool.append(p(0));
    fail = true;
    const group = await Promise.allSettled([spool.append(p(1)), spool.append(p(2))]);
    assert.deepEqual(group.map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    await assert.rejects(spool.append(p(3)), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAVAILABLE);
    await spool.close();
    const { spool: reopened } = await Spool.open(opts);
    await reopened.append(p(4));
    assert.ok(texts((await readAll(reopened)).entries).includes('payload-4'));
    await reopened.close();
  });

  test('close finishes the group commit in flight and then refuses appends', async () => {
    const opts = options();
    const { spool } = await Spool.open(opts);
    const pending = Array.from({ length: 50 }, (_, i) => spool.append(p(i)));
    await spool.close();
    await Promise.all(pending);
    await assert.rejects(spool.append(p(99)), /closed/);
    const { spool: reopened, report } = await Spool.open(opts);
    assert.equal(report.records, 50);
    await reopened.close();
  });
});
