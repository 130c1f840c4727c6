/**
 * Crash faults: the Palisade process SIGKILLed mid-stream (on both
 * ClickHouse paths), a torn last spool record, a flipped byte in a spool
 * record, and client retries plus a spool replay. Each drill drives a steady
 * stream of acknowledged requests, injects the fault, recovers, then checks in
 * ClickHouse that every acknowledged event is there exactly once and prints
 * `acknowledged=N landed=N duplicates=N lost=N`.
 */
import assert from 'node:assert/strict';
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeSegmentHeader, scanFrame } from '../src/spool/record.ts';
import { embedded, serverBackend, type Backend } from './helpers/clickhouse-backend.ts';
import { finish, killAll, landedCount, launch, restart, waitLanded } from './helpers/drill.ts';
import { basic, createTenant, removeDir, startPalisade, type Palisade } from './helpers/palisade.ts';
import { assertExactlyOnce, holdMerges, metric, scrape, sleep, Traffic } from './helpers/traffic.ts';

let server: Backend;
const dirs: string[] = [];

before(async () => {
  server = await serverBackend();
  // Physical duplicates must stay visible to the count: no merge folds them away.
  const wh = await server.open('');
  try {
    const p = await startPalisade({ env: server.env() }); // migrations, so the table exists
    dirs.push(p.dataDir);
    await p.stop();
    await holdMerges(wh);
  } finally {
    await wh.close();
  }
});

after(async () => {
  await killAll();
  await server.close();
  for (const d of dirs) await removeDir(d);
});

async function start(backend: Backend, env: Record<string, string> = {}): Promise<Palisade> {
  const p = await launch({ env: { ...backend.env(), ...env } });
  dirs.push(p.dataDir);
  return p;
}

/** Segment files of a stopped server's spool, oldest first. */
async function segments(p: Palisade): Promise<string[]> {
  const dir = path.join(p.dataDir, 'spool');
  return (await readdir(dir)).filter((f) => /^seg-\d+\.log$/.test(f)).sort().map((f) => path.join(dir, f));
}

/** Start offsets and ends of every complete frame in a segment file. */
async function frames(file: string): Promise<{ start: number; end: number }[]> {
  const buf = await readFile(file);
  const h = decodeSegmentHeader(buf);
  assert.ok(h.ok);
  const out: { start: number; end: number }[] = [];
  let pos = h.bytes.length;
  for (;;) {
    const f = scanFrame(buf, pos);
    if (f.kind !== 'frame') break;
    out.push({ start: pos, end: f.end });
    pos = f.end;
  }
  return out;
}

describe('crash faults', () => {
  for (const which of ['embedded', 'server'] as const) {
    test(`SIGKILL mid-stream, three times, restart on the same data dir (${which} ClickHouse)`, async (t) => {
      const backend = which === 'embedded' ? embedded : server;
      let p = await start(backend);
      const tenant = await createTenant(p, `kill-${which}`);
      let current: Palisade | undefined = p;
      // A retrying SDK: a request that got no answer is sent again with the same messageIds.
      const traffic = new Traffic({ target: () => current, headers: basic(tenant.keys.ingest), concurrency: 4, batch: 20, retry: true }).start();
      let damaged = 0;
      let skipped = 0;
      for (let kill = 0; kill < 3; kill++) {
        await traffic.waitForAcks(300, 20_000);
        await sleep(Math.random() * 400);
        skipped += metric(await scrape(p), 'palisade_flusher_duplicates_skipped_total') ?? 0;
        await p.kill();
        current = undefined;
        p = await restart(p);
        current = p;
        if (p.output.some((l) => l.includes('spool recovery found damage'))) damaged += 1;
      }
      await traffic.waitForAcks(300, 20_000);
      await traffic.stop();
      await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 30_000);
      skipped += metric(await scrape(p), 'palisade_flusher_duplicates_skipped_total') ?? 0;
      const r = await finish(t, `SIGKILL x3 (${which})`, p, backend, [tenant.tenant.id], traffic.requests);
      t.diagnostic(
        `restarts that found a torn tail or damage: ${damaged}; requests retried by the client: ${traffic.requests.filter((q) => q.attempts > 1).length}; ` +
          `rows the flushers skipped as already stored (replays and retries): ${skipped}`,
      );
      assertExactlyOnce(r);
    });
  }

  test('a torn last record: restart recovers everything before it and reports the torn tail', async (t) => {
    // A long flush interval keeps the records in the spool when the process dies.
    let p = await start(embedded, { PALISADE_FLUSH_INTERVAL_MS: '60000' });
    const tenant = await createTenant(p, 'torn');
    await sleep(300); // past the flusher's first (empty) cycle
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 1, batch: 10 }).start();
    await traffic.waitForAcks(200, 10_000);
    await traffic.stop();
    await p.kill();
    // The newest record is cut in the middle: as if the crash hit while it was being written,
    // so its request is counted as never acknowledged (that write would not have been).
    const newest = (await segments(p)).at(-1) as string;
    const last = (await frames(newest)).at(-1) as { start: number; end: number };
    const fd = await open(newest, 'r+');
    await fd.truncate(last.start + Math.floor((last.end - last.start) / 2));
    await fd.close();
    const torn = traffic.requests.filter((r) => r.acked).at(-1);
    assert.ok(torn);
    torn.acked = false;
    for (const id of torn.ids) traffic.acked.delete(id);

    p = await restart(p, { PALISADE_FLUSH_INTERVAL_MS: '100' });
    const damage = p.output.find((l) => l.includes('spool recovery found damage'));
    assert.ok(damage, 'the torn tail is logged');
    const logged = JSON.parse(damage) as { report: { tornTail?: { bytesDropped: number } } };
    assert.ok((logged.report.tornTail?.bytesDropped ?? 0) > 0);
    const m = await scrape(p);
    assert.equal(metric(m, 'palisade_spool_torn_tails_total'), 1);
    assert.equal(metric(m, 'palisade_spool_torn_tail_bytes_total'), logged.report.tornTail?.bytesDropped);
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 20_000);
    const r = await finish(t, 'torn last record', p, embedded, [tenant.tenant.id], traffic.requests);
    assertExactlyOnce(r);
    assert.equal(r.unacknowledgedLandedWhole, 0, 'nothing of the torn record was inserted');
  });

  test('a flipped byte in a spool record is detected, quarantined and reported, never inserted', async (t) => {
    let p = await start(embedded, { PALISADE_FLUSH_INTERVAL_MS: '60000' });
    const tenant = await createTenant(p, 'bitrot');
    await sleep(300);
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 1, batch: 10 }).start();
    await traffic.waitForAcks(100, 10_000);
    await traffic.stop();
    await p.kill();
    // Flip one bit in the ciphertext of the third record (of ten requests): disk rot while the edge was down.
    const file = (await segments(p)).at(-1) as string;
    const target = (await frames(file))[2] as { start: number; end: number };
    const buf = await readFile(file);
    const at = target.start + 40;
    buf[at] = (buf[at] as number) ^ 0x10;
    await writeFile(file, buf);
    const rotten = traffic.requests.filter((r) => r.acked)[2];
    assert.ok(rotten);

    p = await restart(p, { PALISADE_FLUSH_INTERVAL_MS: '100' });
    const damage = p.output.find((l) => l.includes('spool recovery found damage'));
    assert.ok(damage, 'the quarantine is logged');
    assert.equal((JSON.parse(damage) as { report: { quarantined: number } }).report.quarantined, 1);
    assert.equal(metric(await scrape(p), 'palisade_spool_quarantined_records_total'), 1);
    const quarantine = await readdir(path.join(p.dataDir, 'spool', 'quarantine'));
    assert.equal(quarantine.filter((f) => f.includes('.bad.')).length, 1, 'the bad record is kept for an operator');
    const expected = traffic.acked.size - rotten.ids.length;
    await waitLanded(p, [tenant.tenant.id], expected, 20_000);
    await sleep(500);
    assert.equal(await landedCount(p, [tenant.tenant.id]), expected, 'the rotten record was not inserted');
    const r = await finish(t, 'flipped byte', p, embedded, [tenant.tenant.id], traffic.requests, { exclude: new Set(rotten.ids) });
    assertExactlyOnce(r);
    t.diagnostic(`quarantined: 1 record (${rotten.ids.length} acknowledged events destroyed by the injected bit flip, none inserted)`);
  });

  test('a client retrying the same request three times, and a spool replay after a crash: no double counts', async (t) => {
    let p = await start(server);
    const tenant = await createTenant(p, 'retry');
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 2, batch: 25 }).start();
    await traffic.waitForAcks(500, 10_000);
    await traffic.stop();
    // The same requests three more times each (an SDK that never saw the 200s).
    const first = traffic.requests.filter((r) => r.acked).slice(0, 10);
    for (let i = 0; i < 3; i++) {
      for (const r of first) {
        const res = await p.api('POST', '/v1/batch', { body: { batch: r.ids.map((messageId) => ({ type: 'track', event: 'Fault Drill', userId: 'u', messageId })) }, headers: basic(tenant.keys.ingest) });
        assert.equal(res.status, 200);
      }
    }
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 20_000);
    await sleep(500);
    // Crash, then lose the checkpoint (as if the process died after the inserts and before
    // the checkpoint's rename): the restart replays the whole spool into ClickHouse again.
    await p.kill();
    await rm(path.join(p.dataDir, 'spool', 'checkpoint.json'));
    p = await restart(p);
    const deadline = Date.now() + 20_000;
    let skipped = 0;
    while (Date.now() < deadline) {
      skipped = metric(await scrape(p), 'palisade_flusher_duplicates_skipped_total') ?? 0;
      if (skipped >= traffic.acked.size) break;
      await sleep(100);
    }
    assert.ok(skipped >= traffic.acked.size, `the replay re-sent every row and each was skipped (${skipped})`);
    const wh = await server.open('');
    try {
      const r = await finish(t, 'retries x3 + spool replay', p, server, [tenant.tenant.id], traffic.requests, { reader: wh });
      assertExactlyOnce(r);
      t.diagnostic(`rows skipped as already stored during the replay: ${skipped}`);
    } finally {
      await wh.close();
    }
  });
});
