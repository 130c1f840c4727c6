/**
 * `npm run bench`: drives the embedded server over HTTPS on loopback and
 * prints one table, with the bare node:https ceiling measured in the same run.
 *   BENCH_SECONDS (default 10) per scenario, BENCH_CONNECTIONS (default 32).
 * Then bench/engine-floor.ts (what the embedded engine alone costs the same
 * rows), bench/query.ts, bench/durability.ts, bench/scenarios.ts (the k6
 * scenarios on loopback), bench/noisy-neighbour.ts and bench/scale-out.ts
 * (one edge, then two, on the server path) print their own tables;
 * BENCH_ONLY=engine, scenarios, noisy or scaleout runs only that one.
 *   BENCH_WARMUP_SECONDS (default 3): each server first takes this much of
 *   each scenario's load, unmeasured, so the table shows a warm server (in a
 *   5 s run, V8's optimising compiler alone took a third of the CPU counted).
 *   BENCH_ONLY=ingest runs only the ingest table; BENCH_PROFILE=<dir> makes
 *   the Palisade server write a V8 CPU profile (--cpu-prof) into <dir>;
 *   BENCH_ROUTES=track, batch or batch-ids (comma-separated) keeps those
 *   scenarios (to profile one alone).
 * The bare and Hono-alone servers stay up beside Palisade: each scenario runs
 * bare, Hono alone, Palisade, bare again, and its ratio is to the mean of the
 * two bare loads around it (see DRIFT_WARNING).
 * The ingest table's load comes from wrk (-t1, a Lua script for the POST
 * body) when /usr/bin/wrk exists, else from autocannon in this process
 * (BENCH_GENERATOR=autocannon forces it); each server runs in its own child
 * process, and its CPU time is read from /proc.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { basic, createTenant, removeDir, startPalisade, type Palisade } from '../test/helpers/palisade.ts';
import { bracketed, startCeilingServer, type CeilingRow } from './ceiling.ts';
import { caughtUp } from './event-counts.ts';
import { INGEST_SCENARIOS } from './ingest-scenarios.ts';
import { CONNECTIONS, SECONDS, closedLoopRun as load, fmt, type ClosedLoopResult } from './load.ts';
import { cpuSeconds } from './process-cpu.ts';

const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const execFileP = promisify(execFile);

// BENCH_ROUTES=track, batch or batch-ids: only those scenarios of the ingest table, e.g. to profile one alone.
const ROUTES = process.env.BENCH_ROUTES?.split(',');
const SCENARIOS = INGEST_SCENARIOS.filter((s) => !ROUTES || ROUTES.includes(s.key));

interface Measured {
  scenario: string;
  load: ClosedLoopResult;
  events: number;
  /** Server CPU (every thread) over the load and the catch-up, µs per acknowledged event. */
  cpuUsPerEvent?: number;
  /** Seconds from the load's end until every acknowledged event was queryable. */
  catchUpSeconds?: number;
  landed?: number;
  duplicates?: number;
  tenantId?: string;
}

/** CPU seconds per thread name (/proc/<pid>/task/<tid>/stat), to see which lane spends it. */
async function cpuByThread(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const { readdir } = await import('node:fs/promises');
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    // The main thread by itself; libuv's pool (fs, crypto, argon2) and V8's helpers are also named "node".
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[\d-]+$/, '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
  }
  return out;
}

function threadDelta(before: Map<string, number>, after: Map<string, number>, events: number): string {
  return [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${fmt((v * 1e6) / Math.max(1, events), 1)}`)
    .join(' · ');
}

/** Physical rows and distinct ids per tenant, read in a child process once the server stopped. */
async function countRows(dataDir: string, tenants: string[]): Promise<Record<string, { rows: number; unique: number }>> {
  const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', 'bench/count-rows.ts', dataDir, ...tenants], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, { rows: number; unique: number }>;
}

type Scenario = (typeof SCENARIOS)[number];

/** The share of one core (%) the process `pid` used while `run` ran. */
async function coreShare(pid: number, run: () => Promise<void>): Promise<number> {
  const cpu = await cpuSeconds(pid);
  const started = performance.now();
  await run();
  return (((await cpuSeconds(pid)) - cpu) * 100) / ((performance.now() - started) / 1000);
}

/** What runs right before and right after each scenario's measured load (its catch-up included). */
interface Around {
  before(s: Scenario): Promise<void>;
  after(s: Scenario): Promise<void>;
}

async function palisade(around: Around): Promise<Measured[]> {
  // Access logs at info, as in production: their cost is part of the figure.
  // Rate limits off: the load comes from one IP and one key by design, and the
  // bench measures the pipeline, not the limiter.
  // BENCH_PROFILE=<dir>: the server writes a V8 CPU profile there when it stops.
  // (test/helpers/palisade.ts passes PALISADE_NODE_ARGS of this process to node.)
  const profile = process.env.BENCH_PROFILE;
  if (profile) process.env.PALISADE_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profile}`;
  // The flush interval is the production default (the test harness shortens it to 100 ms).
  const p = await startPalisade({ env: { PALISADE_IP_RATE_LIMIT: '0', PALISADE_KEY_RATE_LIMIT: '0', PALISADE_FLUSH_INTERVAL_MS: '250' } });
  const out: Measured[] = [];
  let stopped = false;
  try {
    const pid = p.proc.pid ?? 0;
    if (WARMUP_SECONDS > 0) {
      // Its own tenant, so the table's counts stay exact; caught up before the measured load starts.
      const warm = await createTenant(p, 'bench-warm-up');
      let acked = 0;
      for (const s of SCENARIOS) acked += (await load(`https://127.0.0.1:${p.apiPort}/v1/${s.route}`, s.body, basic(warm.keys.ingest), WARMUP_SECONDS)).ok * s.events;
      await caughtUp(p, warm.tenant.id, acked);
    }
    for (const s of SCENARIOS) {
      // One tenant per scenario, so each row of the table counts its own events.
      const t = await createTenant(p, `bench-${s.key}`);
      const idleBefore = await coreShare(pid, () => around.before(s));
      const before = await cpuSeconds(pid);
      const threadsBefore = await cpuByThread(pid);
      const r = await load(`https://127.0.0.1:${p.apiPort}/v1/${s.route}`, s.body, basic(t.keys.ingest));
      const acked = r.ok * s.events;
      const { landed, seconds } = await caughtUp(p, t.tenant.id, acked);
      const cpu = (await cpuSeconds(pid)) - before;
      process.stderr.write(`${s.name}: server CPU µs/event by thread: ${threadDelta(threadsBefore, await cpuByThread(pid), acked)}\n`);
      out.push({ scenario: s.name, load: r, events: s.events, cpuUsPerEvent: (cpu * 1e6) / Math.max(1, acked), catchUpSeconds: seconds, landed, tenantId: t.tenant.id });
      const idleAfter = await coreShare(pid, () => around.after(s));
      // What Palisade itself took from the cores while the ceilings around its load ran (engine merges, timers).
      process.stderr.write(`${s.name}: Palisade used ${fmt(idleBefore, 1)} % of a core while the ceilings before its load ran, ${fmt(idleAfter, 1)} % during the one after\n`);
    }
    await p.stop();
    stopped = true;
    const counts = await countRows(p.dataDir, out.map((m) => m.tenantId ?? ''));
    for (const m of out) {
      const c = counts[m.tenantId ?? ''] ?? { rows: 0, unique: 0 };
      m.landed = c.unique;
      m.duplicates = c.rows - c.unique;
    }
    return out;
  } finally {
    if (!stopped) await p.stop();
    await removeDir(p.dataDir);
  }
}

// A ratio is only as good as its ceiling: this machine's speed drifts by tens of per cent within
// minutes (a bare ceiling of 26,049 req/s and one of 13,783 three minutes apart, the code unchanged).
// So the bare and Hono-alone servers stay up beside Palisade, and each scenario is measured as
// bare, Hono alone, Palisade (load and catch-up), bare again: its ratio is to the mean of the two
// bare runs around it, and a drift between them above DRIFT_WARNING is printed under the table.
const DRIFT_WARNING = 0.1;

async function throughput(): Promise<void> {
  const bare = await startCeilingServer('bare');
  const hono = await startCeilingServer('hono');
  // The framework alone, for one scenario of each route (the ids do not matter to it): what Hono leaves of the ceiling.
  const framed = (s: Scenario) => s.key !== 'batch-ids';
  const ceiling: (Measured & { drift: number; rates: [number, number] })[] = [];
  const framework: Measured[] = [];
  let ours: Measured[];
  try {
    for (const s of SCENARIOS) {
      await bare.warm(s, WARMUP_SECONDS);
      if (framed(s)) await hono.warm(s, WARMUP_SECONDS);
    }
    const first = new Map<string, CeilingRow>();
    ours = await palisade({
      before: async (s) => {
        first.set(s.key, await bare.measure(s));
        if (framed(s)) framework.push(await hono.measure(s));
      },
      after: async (s) => void ceiling.push(bracketed(first.get(s.key) as CeilingRow, await bare.measure(s))),
    });
  } finally {
    bare.stop();
    hono.stop();
  }
  const lines = [
    `Palisade benchmark — ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
      `${SECONDS} s per scenario, ${CONNECTIONS} connections, HTTPS on loopback, load by ${ours[0]?.load.generator ?? '?'}` +
      `${ours[0]?.load.generator === 'wrk' ? ' -t1' : ''}`,
    '',
    '| scenario | target | req/s | events/s | ratio | p50 ms | p99 ms | errors | server CPU µs/event | acked | landed | lost | counted twice | queryable after |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const rows = [...ceiling.map((r) => ({ r, target: 'bare node:https' })), ...framework.map((r) => ({ r, target: 'Hono alone' })), ...ours.map((r) => ({ r, target: 'palisade' }))];
  for (const { r, target } of rows) {
    const base = ceiling.find((c) => c.scenario === r.scenario);
    const reqs = r.load.ok / r.load.seconds;
    const ours = r.landed !== undefined;
    const acked = r.load.ok * r.events;
    const ratio = base && base !== r ? fmt(reqs / (base.load.ok / base.load.seconds), 3) : '—';
    const tail = ours
      ? `${fmt(acked)} | ${fmt(r.landed ?? 0)} | ${fmt(Math.max(0, acked - (r.landed ?? 0)))} | ${fmt(r.duplicates ?? 0)} | ${fmt(r.catchUpSeconds ?? 0, 2)} s`
      : '— | — | — | — | —';
    lines.push(
      `| ${r.scenario} | ${target} | ${fmt(reqs)} | ${fmt(reqs * r.events)} | ${ratio} | ${fmt(r.load.p50, 1)} | ${fmt(r.load.p99, 1)} | ` +
        `${r.load.failed} | ${fmt(r.cpuUsPerEvent ?? 0, 1)} | ${tail} |`,
    );
  }
  lines.push(
    '',
    `Each server first took ${WARMUP_SECONDS} s of each load, unmeasured (a warm server). ` +
      'server CPU: utime+stime of the server process (every thread, the embedded engine included) from the load\'s start until every acknowledged event was queryable; ' +
      'the bare and Hono-alone rows count the load alone. Hono alone: bench/bare-server.ts hono, one route that reads the body and answers, on @hono/node-server with the bare server\'s TLS. ' +
      'lost = acknowledged − distinct ids in `events`; counted twice = physical rows − distinct ids (no FINAL). ' +
      'bare node:https: the mean of two loads, right before and right after the scenario\'s Palisade load and catch-up (its ratio\'s base); ' +
      `the two, req/s: ${ceiling.map((c) => `${c.scenario} ${fmt(c.rates[0])} → ${fmt(c.rates[1])} (${c.drift >= 0 ? '+' : '−'}${fmt(Math.abs(c.drift) * 100, 1)} %)`).join(', ')}.`,
  );
  for (const c of ceiling.filter((c) => Math.abs(c.drift) > DRIFT_WARNING)) {
    lines.push('', `The machine's speed moved by more than ${DRIFT_WARNING * 100} % during "${c.scenario}": its ratio is uncertain; run it again.`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

// BENCH_ONLY=scenarios runs just the k6 scenarios on loopback (bench/scenarios.ts); BENCH_ONLY=noisy just
// bench/noisy-neighbour.ts; BENCH_ONLY=scaleout just bench/scale-out.ts; BENCH_ONLY=ingest just the ingest table above;
// BENCH_ONLY=engine just bench/engine-floor.ts.
const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'scenarios' && only !== 'noisy' && only !== 'scaleout' && only !== 'ingest' && only !== 'engine') {
  process.stderr.write(
    `BENCH_ONLY=${only}: the parts that run alone this way are "ingest", "engine", "scenarios", "noisy" and "scaleout" (the others: node --import tsx bench/query.ts, bench/durability.ts)\n`,
  );
  process.exit(2);
}
if (only === undefined || only === 'ingest') await throughput();

// The embedded engine's own cost of the ingest table's rows, its floor (bench/engine-floor.ts prints its own table).
// A child process: chDB binds one data directory per process, and the parts below open their own.
if (only === undefined || only === 'engine') {
  const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', 'bench/engine-floor.ts'], { maxBuffer: 1 << 20 });
  process.stdout.write(`\n${stdout}`);
}

if (only === undefined) {
  // Query latency on a generated 10M-event data set (bench/query.ts prints its own table).
  await import('./query.ts');

  // What the fsync'd spool costs, and acknowledgement → queryable (bench/durability.ts prints its own table).
  await import('./durability.ts');
}

// The k6 scenarios of load-tests/ on loopback, with their thresholds (bench/scenarios.ts prints its own table).
if (only === undefined || only === 'scenarios') await import('./scenarios.ts');

// One tenant's heavy reads and a stranger's flood against another tenant (bench/noisy-neighbour.ts prints its own table).
if (only === undefined || only === 'noisy') await import('./noisy-neighbour.ts');

// One edge, then two, on the server path, both cores in use (bench/scale-out.ts prints its own table).
if (only === undefined || only === 'scaleout') await import('./scale-out.ts');
