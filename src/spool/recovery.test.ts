import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { segmentName } from './segment-files.ts';
import { Spool, type SpoolOptions } from './spool.ts';

// Spool.open's recovery: crash leftovers and damaged bytes, made by editing the files while the spool is closed.
const root = await mkdtemp(path.join(os.tmpdir(), 'palisade-spool-recovery-'));
after(() => rm(root, { recursive: true, force: true }));

const key = randomBytes(32);
let n = 0;
function options(extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir: path.join(root, `s${n++}`), keys: new Map([['k1', key]]), currentKeyId: 'k1', ...extra };
}
const p = (i: number) => Buffer.from(`payload-${i}`);
const readAll = async (spool: Spool) => await spool.read(spool.checkpoint(), { maxRecords: 100_000 });
const texts = (entries: { payload: Buffer }[]) => entries.map((e) => e.payload.toString());

async function flipByte(file: string, at: number): Promise<void> {
  const fd = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await fd.read(byte, 0, 1, at);
  await fd.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
  await fd.close();
}

async function filled(opts: SpoolOptions, count: number) {
  const { spool } = await Spool.open(opts);
  for (let i = 0; i < count; i++) await spool.append(p(i));
  const { entries } = await readAll(spool);
  await spool.close();
  return entries;
}

describe('spool recovery', () => {
  test('a torn last record is cut off; everything before it is recovered', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    for (let i = 0; i < 5; i++) await first.spool.append(p(i));
    await first.spool.close();
    const file = path.join(opts.dir, segmentName(1));
    const size = (await stat(file)).size;
    await truncate(file, size - 7);

    const { spool, report } = await Spool.open(opts);
    const lastFrame = size - ((await readAll(spool)).entries.at(-1)?.end.offset ?? 0);
    assert.deepEqual(report.tornTail, { segment: segmentName(1), bytesDropped: lastFrame - 7 });
    assert.equal(report.quarantined, 0);
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-0', 'payload-1', 'payload-2', 'payload-3']);
    assert.equal((await stat(file)).size, size - lastFrame);
    await spool.append(p(5));
    assert.deepEqual(texts((await readAll(spool)).entries).slice(-2), ['payload-3', 'payload-5']);
    await spool.close();
  });

  test('a segment cut off inside its header (crash while creating it) is dropped', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    await first.spool.append(p(0));
    await first.spool.close();
    await writeFile(path.join(opts.dir, segmentName(2)), Buffer.from('PALSP'));
    const { spool, report } = await Spool.open(opts);
    assert.deepEqual(report.tornTail, { segment: segmentName(2), bytesDropped: 5 });
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-0']);
    await spool.close();
  });

  test('a flipped byte in the middle record is quarantined; the others are delivered', async () => {
    const opts = options();
    const first = await Spool.open(opts);
    for (let i = 0; i < 3; i++) await first.spool.append(p(i));
    const { entries } = await readAll(first.spool);
    await first.spool.close();
    await flipByte(path.join(opts.dir, segmentName(1)), entries[0]!.end.offset + 20); // inside the second record's ciphertext

    const { spool, report } = await Spool.open(opts);
    assert.equal(report.quarantined, 1);
    assert.equal(report.tornTail, undefined);
    assert.deepEqual(texts((await readAll(spool)).entries), ['payload-0', 'payload-2']);
    const quarantined = await readdir(path.join(opts.dir, 'quarantine'));
    assert.equal(quarantined.length, 1);
    assert.equal((await readFile(path.join(opts.dir, 'quarantine', quarantined[0]!))).length, entries[1]!.end.offset - entries[0]!.end.offset);
    await spool.close();
  });

  test('a garbled length field in an older segment quarantines the rest of that segment only', async () => {
    const opts = options({ segmentBytes: 200 });
    const entries = await filled(opts, 6);
    const inFirst = entries.filter((e) => e.end.seq === 1);
    assert.ok(inFirst.length >= 2 && entries.some((e) => e.end.seq > 1), 'needs two segments');
    await flipByte(path.join(opts.dir, segmentName(1)), inFirst[0]!.end.offset); // high byte of the 2nd record's length
    const { spool, report } = await Spool.open(opts);
    assert.equal(report.tornTail, undefined, 'an older segment is never truncated');
    assert.equal(report.quarantined, 1);
    const got = texts((await readAll(spool)).entries);
    assert.deepEqual(got, ['payload-0', ...texts(entries.filter((e) => e.end.seq > 1))]);
    assert.ok((await stat(path.join(opts.dir, segmentName(1)))).size > inFirst[0]!.end.offset, 'bytes left in place');
    await spool.close();
  });

  test('a segment whose header names another seq (renamed file) is quarantined whole', async () => {
    const opts = options();
    await filled(opts, 2);
    await rename(path.join(opts.dir, segmentName(1)), path.join(opts.dir, segmentName(5)));
    const { spool, report } = await Spool.open(opts);
    assert.equal(report.quarantined, 1);
    assert.equal((await readAll(spool)).entries.length, 0);
    assert.equal((await readdir(path.join(opts.dir, 'quarantine'))).length, 1);
    await spool.close();
  });

  test('a malformed checkpoint stops open with the fix in the message', async () => {
    const opts = options();
    await filled(opts, 1);
    await writeFile(path.join(opts.dir, 'checkpoint.json'), '{"seq":"x"}');
    await assert.rejects(Spool.open(opts), /checkpoint\.json is malformed; delete it to replay/);
  });
});
