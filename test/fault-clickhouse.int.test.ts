/**
 * ClickHouse-side faults on the server path (@clickhouse/client;
 * the test bridge, or the real server at CLICKHOUSE_URL behind a TCP proxy):
 * an outage six times the flusher's backoff cap, a spool filled to PALISADE_SPOOL_MAX_BYTES while ClickHouse
 * is down, a graceful shutdown that cannot flush, and a batch ClickHouse
 * rejects. Each drill prints `acknowledged=N landed=N duplicates=N lost=N`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { toClickHouseTime, type EventRow } from '../schemas/event-row.ts';
import { encodeSpoolPayload } from '../src/spool/payload.ts';
import { Spool } from '../src/spool/spool.ts';
import { serverBackend, type Backend } from './helpers/clickhouse-backend.ts';
import { finish, killAll, launch, report, restart, waitLanded } from './helpers/drill.ts';
import { from } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, type Palisade } from './helpers/palisade.ts';
import { assertExactlyOnce, holdMerges, metric, scrape, sleep, Traffic } from './helpers/traffic.ts';

let server: Backend;
const dirs: string[] = [];

async function hold(): Promise<void> {
  const wh = await server.open('');
  try {
    await holdMerges(wh);
  } finally {
    await wh.close();
  }
}

let clickhouseDown = false;

async function down(): Promise<void> {
  await server.down();
  clickhouseDown = true;
}

/** Brings ClickHouse back and stops merges again (a restarted bridge merges by default). */
async function up(): Promise<void> {
  await server.up();
  clickhouseDown = false;
  await hold();
}

before(async () => {
  server = await serverBackend();
  const p = await startPalisade({ env: server.env() }); // migrations, so the events table exists
  dirs.push(p.dataDir);
  await p.stop();
  await hold();
});

after(async () => {
  await killAll();
  await server.close();
  for (const d of dirs) await removeDir(d);
});

async function start(env: Record<string, string> = {}): Promise<Palisade> {
  const p = await launch({ env: { ...server.env(), ...env } });
  dirs.push(p.dataDir);
  return p;
}

async function readyz(p: Palisade): Promise<{ status: number; body: { status: string; checks: Record<string, unknown> } }> {
  const r = await p.api<{ status: string; checks: Record<string, unknown> }>('GET', '/readyz');
  return { status: r.status, body: r.body };
}

// The outage is six backoff caps long, as 30 s against the 5 s cap this drill first used: long
// enough that the waits reach the cap and stay there, short enough that catch-up starts within one
// cap. 2 s / 12 s (30 s cap in production) keeps that ratio and the drill ~20 s shorter. Without
// backoff the flusher would try every 100 ms flush interval: ~120 attempts in 12 s, far above
// the 40 the assertion allows.
const BACKOFF_CAP_MS = 2_000;
const OUTAGE_MS = 6 * BACKOFF_CAP_MS;

describe('ClickHouse faults (server path)', () => {
  // A drill that fails midway must not take the next one down with it: its traffic and servers
  // end, and ClickHouse is up again.
  afterEach(async () => {
    await killAll();
    if (clickhouseDown) await up();
  });

  test(`ClickHouse unreachable for ${OUTAGE_MS / 1000} s (six backoff caps): ingestion keeps acknowledging, the flusher backs off with jitter and catches up`, async (t) => {
    const p = await start({ PALISADE_FLUSH_BACKOFF_MAX_MS: String(BACKOFF_CAP_MS) });
    const tenant = await createTenant(p, 'outage');
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 2, batch: 10, pauseMs: 20, retry: true }).start();
    await traffic.waitForAcks(200, 10_000);
    assert.deepEqual((await readyz(p)).status, 200);

    await down();
    const downAt = Date.now();
    const ackedAtDown = traffic.acked.size;
    const samples: { at: number; ready: number; status: string; spoolRecords: number; failures: number }[] = [];
    while (Date.now() - downAt < OUTAGE_MS) {
      await sleep(1_000);
      const r = await readyz(p);
      const m = await scrape(p);
      samples.push({
        at: Date.now() - downAt, ready: r.status, status: r.body.status,
        spoolRecords: metric(m, 'palisade_spool_records') ?? -1, failures: metric(m, 'palisade_flusher_consecutive_failures') ?? -1,
      });
    }
    const ackedDuringOutage = traffic.acked.size - ackedAtDown;
    const last = samples.at(-1);
    assert.ok(last);
    assert.ok(ackedDuringOutage > 500, `ingestion kept acknowledging while ClickHouse was down (${ackedDuringOutage})`);
    assert.ok(samples.slice(3).every((s) => s.ready === 503 && s.status === 'degraded'), `/readyz degraded: ${JSON.stringify(samples)}`);
    assert.ok(last.spoolRecords > samples[0]!.spoolRecords, 'the spool grew');
    // No backoff would be one attempt per 100 ms flush interval: ~120 in 12 s.
    assert.ok(last.failures >= 5 && last.failures <= 40, `backed off: ${last.failures} failed attempts in ${OUTAGE_MS / 1000} s`);
    const failedAt = p.output
      .filter((l) => l.includes('spool flush failed'))
      .map((l) => Date.parse((JSON.parse(l) as { time: string }).time))
      .filter((at) => at >= downAt);
    const gaps = failedAt.slice(1).map((at, i) => at - (failedAt[i] as number));
    // Full jitter: the waits are random below the exponential cap, not the cap itself.
    const deterministic = gaps.every((g, i) => Math.abs(g - Math.min(BACKOFF_CAP_MS, 100 * 2 ** i)) <= 0.2 * Math.min(BACKOFF_CAP_MS, 100 * 2 ** i));
    assert.ok(!deterministic, `waits between attempts look unjittered: ${gaps.join(',')}`);

    const upAt = Date.now();
    await up();
    let readyAgain = 0;
    while (Date.now() - upAt < 20_000) {
      if ((await readyz(p)).status === 200) {
        readyAgain = Date.now() - upAt;
        break;
      }
      await sleep(100);
    }
    assert.ok(readyAgain > 0, '/readyz is ready again');
    await traffic.waitForAcks(100, 10_000);
    await traffic.stop();
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 60_000);
    const caughtUp = Date.now() - upAt;
    const r = await finish(t, `ClickHouse down ${OUTAGE_MS / 1000} s`, p, server, [tenant.tenant.id], traffic.requests);
    t.diagnostic(
      `acknowledged during the outage: ${ackedDuringOutage}; spool peak: ${Math.max(...samples.map((s) => s.spoolRecords))} records; ` +
        `failed flush attempts: ${last.failures}; ready again ${readyAgain} ms and caught up ${caughtUp} ms after ClickHouse returned; waits (ms): ${gaps.join(',')}`,
    );
    assertExactlyOnce(r);
  });

  test('the spool reaches PALISADE_SPOOL_MAX_BYTES: 503 + Retry-After, nothing acknowledged dropped, ingestion resumes by itself', async (t) => {
    const max = 256 * 1024;
    const p = await start({ PALISADE_SPOOL_MAX_BYTES: String(max), PALISADE_FLUSH_BACKOFF_MAX_MS: '1000' });
    const tenant = await createTenant(p, 'full');
    await down();
    // ~6 KB requests; a client that honours Retry-After (capped at 200 ms to keep the drill short).
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 3, batch: 10, padding: 500, retry: true, maxRetryAfterMs: 200 }).start();
    const deadline = Date.now() + 30_000;
    while ((traffic.errorCodes.spool_full ?? 0) < 10) {
      assert.ok(Date.now() < deadline, `the spool never filled: ${JSON.stringify(traffic.statuses)}`);
      await sleep(50);
    }
    assert.ok(traffic.retryAfter.length > 0 && traffic.retryAfter.every((v) => Number(v) > 0), 'every 503 carries Retry-After');
    const ready = await readyz(p);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.spoolFull, true);
    const m = await scrape(p);
    assert.ok((metric(m, 'palisade_requests_refused_total{reason="spool_full"}') ?? 0) > 0);
    const spoolBytes = metric(m, 'palisade_spool_bytes') ?? 0;
    assert.ok(spoolBytes >= max * 0.9 && spoolBytes < max + 64 * 1024, `spool at its limit: ${spoolBytes} of ${max}`);
    const ackedWhenFull = traffic.acked.size;
    await sleep(1_000);
    assert.equal(traffic.acked.size, ackedWhenFull, 'nothing is acknowledged while the spool is full');

    await up();
    // Nobody intervenes: the flusher drains the spool and the same clients get 200s again.
    await traffic.waitForAcks(300, 30_000);
    await traffic.stop();
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 30_000);
    const r = await finish(t, 'spool full', p, server, [tenant.tenant.id], traffic.requests);
    t.diagnostic(`acknowledged before the spool filled: ${ackedWhenFull}; 503 spool_full answers: ${traffic.errorCodes.spool_full}; spool bytes at the limit: ${spoolBytes}`);
    assertExactlyOnce(r);
  });

  test('SIGTERM with ClickHouse down: 503 for new requests, exit 0 within the deadline, the rest lands once after restart', async (t) => {
    const deadlineMs = 3_000;
    let p = await start({ PALISADE_SHUTDOWN_DEADLINE_MS: String(deadlineMs) });
    const tenant = await createTenant(p, 'shutdown');
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 3, batch: 10 }).start();
    await traffic.waitForAcks(200, 10_000);
    await down();
    await traffic.waitForAcks(300, 10_000);

    // The request after SIGTERM goes on a connection of its own. One from the shared pool may be
    // an idle keep-alive socket the server closed at SIGTERM whose FIN this process (at nice 19
    // on a busy machine) has not read yet: a request written onto it is reset (ECONNRESET)
    // before the server can refuse it, which says nothing about the server.
    const late = await from(p, '127.0.0.1');
    const exited = new Promise<number | null>((resolve) => p.proc.once('exit', (code) => resolve(code)));
    const termAt = Date.now();
    p.proc.kill('SIGTERM');
    await sleep(200);
    const during = await late.call<{ error: { code: string } }>('POST', '/v1/batch', {
      body: { batch: [{ type: 'track', event: 'Late', userId: 'u' }] }, headers: basic(tenant.keys.ingest),
    });
    await late.close();
    assert.equal(during.status, 503, 'a request after SIGTERM is refused, not accepted');
    assert.equal(during.body.error.code, 'unavailable');
    assert.ok(Number(during.headers['retry-after']) > 0);
    const code = await exited;
    const tookMs = Date.now() - termAt;
    await traffic.stop();
    assert.equal(code, 0);
    assert.ok(tookMs <= deadlineMs + 1_000, `exited ${tookMs} ms after SIGTERM (deadline ${deadlineMs} ms)`);
    const stopped = p.output.find((l) => l.includes('palisade stopped'));
    assert.ok(stopped);
    const s = JSON.parse(stopped) as { inFlightFinished: boolean; drained: boolean; recordsLeftInSpool: number };
    assert.equal(s.inFlightFinished, true);
    assert.equal(s.drained, false);
    assert.ok(s.recordsLeftInSpool > 0, 'what could not reach ClickHouse stayed in the spool');
    assert.ok(traffic.requests.every((r) => r.acked || r.attempts > 0));

    await up();
    p = await restart(p);
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size, 30_000);
    const r = await finish(t, 'SIGTERM, ClickHouse down', p, server, [tenant.tenant.id], traffic.requests);
    t.diagnostic(`exit 0 after ${tookMs} ms (deadline ${deadlineMs} ms); spool records left for the next start: ${s.recordsLeftInSpool}; statuses ${JSON.stringify(traffic.statuses)}`);
    assertExactlyOnce(r);
  });

  test('a batch ClickHouse rejects: the offending row goes to dead_letters with the reason, the rest lands, the flusher does not stall', async (t) => {
    let p = await start();
    const tenant = await createTenant(p, 'poison');
    const traffic = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 1, batch: 10 }).start();
    await traffic.waitForAcks(100, 10_000);
    await traffic.stop();
    assert.equal(await p.stop(), 0);

    // The sanitiser refuses colliding JSON paths at the edge, so no public request can carry
    // one; the row is written straight into the stopped server's encrypted spool, as a spool
    // from an older version (or a sanitiser bug) would hold it.
    const secrets = JSON.parse(await readFile(path.join(p.dataDir, 'secrets.json'), 'utf8')) as { spoolKeys: Record<string, string>; spoolKeyId: string };
    const { spool } = await Spool.open({
      dir: path.join(p.dataDir, 'spool'),
      keys: new Map(Object.entries(secrets.spoolKeys).map(([id, hex]) => [id, Buffer.from(hex, 'hex')])),
      currentKeyId: secrets.spoolKeyId,
    });
    const now = toClickHouseTime(new Date());
    const row = (id: string, properties: EventRow['properties']): EventRow => ({
      tenant_id: tenant.tenant.id, message_id: id, type: 'track', event: 'Injected', user_id: 'u', anonymous_id: '', group_id: '', previous_id: '',
      timestamp: now, original_timestamp: null, sent_at: null, received_at: now, properties, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'k',
    });
    const injected = [row('inj-1', { ok: 1 }), row('inj-2', { ok: 2 }), row('inj-poison', { 'a.b': 1, a: { b: 2 } }), row('inj-3', { ok: 3 })];
    await spool.append(encodeSpoolPayload(tenant.tenant.id, injected));
    await spool.close();

    p = await restart(p);
    // Live traffic behind the poisoned record keeps landing: the flusher did not stall on it.
    const live = new Traffic({ target: () => p, headers: basic(tenant.keys.ingest), concurrency: 1, batch: 10 }).start();
    await live.waitForAcks(100, 10_000);
    await live.stop();
    await waitLanded(p, [tenant.tenant.id], traffic.acked.size + live.acked.size + 3, 20_000);
    const m = await scrape(p);
    assert.equal(metric(m, 'palisade_flusher_dead_lettered_rows_total{reason="clickhouse_rejected"}'), 1);
    assert.equal(metric(m, 'palisade_flusher_healthy'), 1);

    const wh = await server.open('');
    try {
      const dl = await wh.query<{ message_id: string; reason: string; row: string }>(
        'SELECT message_id, reason, row FROM dead_letters WHERE tenant_id = {t:String}', { params: { t: tenant.tenant.id } });
      assert.equal(dl.length, 1);
      assert.equal(dl[0]?.message_id, 'inj-poison');
      assert.match(dl[0]?.reason ?? '', /Code: 117/);
      // The row as it was to be inserted: is_bot is its column's default where the row has none.
      assert.deepEqual(JSON.parse(dl[0]?.row ?? '{}'), { ...injected[2], is_bot: 0 });
      const good = await wh.query<{ message_id: string }>(
        "SELECT message_id FROM events WHERE tenant_id = {t:String} AND event = 'Injected' ORDER BY message_id", { params: { t: tenant.tenant.id } });
      assert.deepEqual(good.map((g) => g.message_id), ['inj-1', 'inj-2', 'inj-3']);
      const r = await finish(t, 'rejected batch', p, server, [tenant.tenant.id], [...traffic.requests, ...live.requests, { ids: ['inj-1', 'inj-2', 'inj-3'], acked: true, attempts: 1 }], { reader: wh });
      report(t, 'rejected batch', `dead_letters: 1 row (inj-poison, reason "${(dl[0]?.reason ?? '').slice(0, 60)}…"); its 3 batch-mates landed`);
      assertExactlyOnce(r);
    } finally {
      await wh.close();
    }
  });
});
