/**
 * `npm run bench`: drives the embedded server over HTTPS on loopback and
 * prints one table, with the bare node:https ceiling measured in the same run.
 *   BENCH_SECONDS (default 10) per scenario, BENCH_CONNECTIONS (default 32).
 * Then bench/query.ts, bench/durability.ts and bench/scenarios.ts (the k6
 * scenarios on loopback) print their own tables; BENCH_ONLY=scenarios runs
 * only the last.
 * The load generator (autocannon) runs in this process; each server runs in
 * its own child process.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type autocannon from 'autocannon';
import { basic, createTenant, removeDir, startPalisade, stats, waitFor } from '../test/helpers/palisade.ts';
import { CONNECTIONS, SECONDS, closedLoop as load, fmt } from './load.ts';

const BATCH = 50;

interface Row {
  scenario: string;
  target: string;
  reqPerSec: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  acked: number;
}

const single = JSON.stringify({ event: 'Signed Up', userId: 'u1', properties: { plan: 'pro', referrer: 'https://example.com/a' }, context: { library: { name: 'bench' } } });
const batch = JSON.stringify({
  batch: Array.from({ length: BATCH }, (_, i) => ({ type: 'track', event: `Event ${i % 5}`, userId: `u${i}`, properties: { plan: 'pro', n: i } })),
});

function row(scenario: string, target: string, r: autocannon.Result, eventsPerRequest: number): Row {
  const ok = r['2xx'];
  return {
    scenario,
    target,
    reqPerSec: ok / SECONDS,
    eventsPerSec: (ok * eventsPerRequest) / SECONDS,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx + r.errors + r.timeouts,
    acked: ok * eventsPerRequest,
  };
}

async function bare(): Promise<Row[]> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-server.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => proc.stdout.once('data', (d: Buffer) => resolve((JSON.parse(String(d)) as { port: number }).port)));
  const url = `https://127.0.0.1:${port}/v1`;
  const rows = [row('single event', 'bare node:https', await load(`${url}/track`, single, {}), 1), row(`batch of ${BATCH}`, 'bare node:https', await load(`${url}/batch`, batch, {}), BATCH)];
  proc.kill('SIGTERM');
  return rows;
}

async function palisade(): Promise<{ rows: Row[]; landed: number; acked: number; drainMs: number }> {
  // Access logs stay on (info), as in production: their cost is part of the figure.
  // Rate limits off: the load comes from one IP and one key by design, and the
  // bench measures the pipeline, not the limiter.
  const p = await startPalisade({ env: { PALISADE_IP_RATE_LIMIT: '0', PALISADE_KEY_RATE_LIMIT: '0' } });
  try {
    const t = await createTenant(p, 'bench');
    const h = basic(t.keys.ingest);
    const url = `https://127.0.0.1:${p.apiPort}/v1`;
    const rows = [row('single event', 'palisade', await load(`${url}/track`, single, h), 1), row(`batch of ${BATCH}`, 'palisade', await load(`${url}/batch`, batch, h), BATCH)];
    const acked = rows.reduce((s, r) => s + r.acked, 0);
    const started = Date.now();
    const landed = await waitFor(async () => {
      const s = await stats(p, t.tenant.id);
      return s.events >= acked && s.events;
    }, 120_000, 'every acknowledged event to land').catch(async () => (await stats(p, t.tenant.id)).events);
    return { rows, landed, acked, drainMs: Date.now() - started };
  } finally {
    await p.stop();
    await removeDir(p.dataDir);
  }
}

async function throughput(): Promise<void> {
  const ceiling = await bare();
  const ours = await palisade();
  const lines = [
    `Palisade benchmark — ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${SECONDS} s per scenario, ${CONNECTIONS} connections, HTTPS on loopback`,
    '',
    '| scenario | target | req/s | events/s | p50 ms | p99 ms | errors | % of ceiling |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of [...ceiling, ...ours.rows]) {
    const base = ceiling.find((c) => c.scenario === r.scenario);
    const pct = base && r.target !== base.target ? `${fmt((100 * r.eventsPerSec) / base.eventsPerSec, 1)} %` : '—';
    lines.push(`| ${r.scenario} | ${r.target} | ${fmt(r.reqPerSec)} | ${fmt(r.eventsPerSec)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.non2xx} | ${pct} |`);
  }
  lines.push('', `Events acknowledged: ${fmt(ours.acked)} · landed in ClickHouse: ${fmt(ours.landed)} (each messageId once) · lost: ${fmt(Math.max(0, ours.acked - ours.landed))} · backlog drained ${fmt(ours.drainMs / 1000, 1)} s after the load stopped`);
  process.stdout.write(lines.join('\n') + '\n');
}

// BENCH_ONLY=scenarios runs just the k6 scenarios on loopback (bench/scenarios.ts); BENCH_ONLY=noisy just bench/noisy-neighbour.ts.
const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'scenarios' && only !== 'noisy') {
  process.stderr.write(`BENCH_ONLY=${only}: the parts that run alone this way are "scenarios" and "noisy" (the others: node --import tsx bench/query.ts, bench/durability.ts, bench/scenarios.ts, bench/noisy-neighbour.ts)\n`);
  process.exit(2);
}
if (only === undefined) {
  await throughput();

  // Query latency on a generated 10M-event data set (bench/query.ts prints its own table).
  await import('./query.ts');

  // What the fsync'd spool costs, and acknowledgement → queryable (bench/durability.ts prints its own table).
  await import('./durability.ts');
}

// The k6 scenarios of load-tests/ on loopback, with their thresholds (bench/scenarios.ts prints its own table).
if (only !== 'noisy') await import('./scenarios.ts');

// One tenant's heavy reads and a stranger's flood against another tenant (bench/noisy-neighbour.ts prints its own table).
if (only === undefined || only === 'noisy') await import('./noisy-neighbour.ts');
