/**
 * Scale-out on the server path: one edge, then two edges, on one ClickHouse.
 * Run last by `npm run bench`, alone by `BENCH_ONLY=scaleout npm run bench`.
 *
 * One Palisade process saturates its main thread near 4.5k single-event
 * req/s while the machine's other core mostly idles. On the server path an
 * edge keeps nothing but its spool, so a node scales by running N edge
 * processes (ops/README.md "N stateless edges"), each with its own data
 * directory (spool) and PALISADE_NODE_ID, the same service secrets, and a
 * balancer in front. This table measures that here: the same load as
 * bench/run.ts's ingest table, first on one edge (32 connections), then split
 * over two edges (16 connections each, one wrk per edge, as a balancer would
 * spread it), with the bare node:https ceiling of the same run.
 *
 * There is no ClickHouse server on this machine: the test bridge
 * (test/helpers/clickhouse-bridge.ts, chDB behind ClickHouse's HTTP interface
 * in its own process) stands in for it, and its CPU counts in the cost per
 * event, as the embedded engine's does in bench/run.ts. With CLICKHOUSE_URL
 * set the edges write to that server instead and only their CPU is counted.
 *   BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_ROUTES as for bench/run.ts.
 */
import { copyFile, chmod } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { serverBackend, type Backend } from '../test/helpers/clickhouse-backend.ts';
import { basic, createTenant, removeDir, startPalisade, tempDir, type Palisade } from '../test/helpers/palisade.ts';
import { measureCeiling, type CeilingRow, type CeilingScenario } from './ceiling.ts';
import { caughtUp, eventCounts } from './event-counts.ts';
import { INGEST_SCENARIOS } from './ingest-scenarios.ts';
import { CONNECTIONS, SECONDS, closedLoopRun as load, fmt, type ClosedLoopResult } from './load.ts';
import { cpuSeconds } from './process-cpu.ts';

const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const ROUTES = process.env.BENCH_ROUTES?.split(',');
// The two loads without client message ids: what a second edge adds is the question here, not the lookups.
const SCENARIOS = INGEST_SCENARIOS.filter((s) => s.key !== 'batch-ids' && (!ROUTES || ROUTES.includes(s.key)));
// Every edge gets the same settings, as a fleet behind a balancer does; those of
// bench/run.ts's table (rate limits off: one client address and one key carry
// the whole load; the production flush interval), backups off (no backup target
// on the server path here). Keys refresh every 500 ms instead of 2 s so the
// second edge knows a tenant made through the first one within a second.
const KEY_REFRESH_MS = 500;
const EDGE_ENV = {
  PALISADE_IP_RATE_LIMIT: '0',
  PALISADE_KEY_RATE_LIMIT: '0',
  PALISADE_FLUSH_INTERVAL_MS: '250',
  PALISADE_BACKUP_INTERVAL: 'off',
  PALISADE_KEY_REFRESH_MS: String(KEY_REFRESH_MS),
};

interface Row {
  scenario: string;
  edges: number;
  events: number;
  /** Summed over the edges' generators; p50 and p99 are the worse of them. */
  reqPerSec: number;
  load: ClosedLoopResult;
  acked: number;
  /** CPU seconds over the load and its catch-up, per process (edge-1, edge-2, bridge). */
  cpu: Map<string, number>;
  catchUpSeconds: number;
  tenantId: string;
  landed?: number;
  duplicates?: number;
}

/** The processes whose CPU is the cost of an event: every edge and the engine's process, if it is a child. */
function processes(edges: Palisade[], backend: Backend): Map<string, number> {
  const out = new Map<string, number>(edges.map((e, i) => [`edge-${i + 1}`, e.proc.pid ?? 0]));
  const engine = backend.enginePid?.();
  if (engine !== undefined) out.set('bridge', engine);
  return out;
}

async function cpuOf(procs: Map<string, number>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [name, pid] of procs) out.set(name, await cpuSeconds(pid));
  return out;
}

/**
 * Until the edge authenticates the key: an empty track call answers 400 once the
 * key is known (validation runs after authentication) and 401 before, and lands
 * no event. Probed once per refresh interval, so the failed-auth throttle never sees a burst.
 */
async function knowsKey(edge: Palisade, key: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    await new Promise((r) => setTimeout(r, KEY_REFRESH_MS));
    const r = await edge.api('POST', '/v1/track', { body: {}, headers: basic(key) });
    if (r.status === 400) return;
    if (r.status !== 401) throw new Error(`key probe answered ${r.status}: ${r.text}`);
  }
  throw new Error(`the edge on port ${edge.apiPort} did not learn the key within ${(40 * KEY_REFRESH_MS) / 1000} s`);
}

/**
 * The same load split evenly over the edges, one generator per edge, all at
 * once. Every generator has finished (allSettled) before this returns or
 * throws, so none outlives the edges it loads.
 */
async function spread(edges: Palisade[], s: CeilingScenario, key: string, seconds: number): Promise<{ load: ClosedLoopResult; reqPerSec: number }> {
  const connections = Math.max(1, Math.round(CONNECTIONS / edges.length));
  const settled = await Promise.allSettled(edges.map((e) => load(`https://127.0.0.1:${e.apiPort}/v1/${s.route}`, s.body, basic(key), seconds, connections)));
  const runs = settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  const first = runs[0];
  if (!first) throw new Error('no edge to load');
  return {
    reqPerSec: runs.reduce((sum, r) => sum + r.ok / r.seconds, 0),
    load: {
      generator: first.generator,
      ok: runs.reduce((sum, r) => sum + r.ok, 0),
      failed: runs.reduce((sum, r) => sum + r.failed, 0),
      seconds: Math.max(...runs.map((r) => r.seconds)),
      p50: Math.max(...runs.map((r) => r.p50)),
      p99: Math.max(...runs.map((r) => r.p99)),
    },
  };
}

/** Each scenario's load for WARMUP_SECONDS on a tenant of its own, then until it is all queryable. */
async function warmUp(edges: Palisade[], admin: Palisade): Promise<void> {
  if (WARMUP_SECONDS <= 0) return;
  const warm = await createTenant(admin, `scale-out-warm-up-${edges.length}`);
  for (const e of edges) await knowsKey(e, warm.keys.ingest);
  let acked = 0;
  for (const s of SCENARIOS) acked += (await spread(edges, s, warm.keys.ingest, WARMUP_SECONDS)).load.ok * s.events;
  await caughtUp(admin, warm.tenant.id, acked);
}

async function measure(edges: Palisade[], admin: Palisade, backend: Backend): Promise<Row[]> {
  const rows: Row[] = [];
  const procs = processes(edges, backend);
  for (const s of SCENARIOS) {
    // One tenant per row, made through the first edge, so each row counts its own events.
    const t = await createTenant(admin, `scale-out-${s.key}-${edges.length}`);
    for (const e of edges) await knowsKey(e, t.keys.ingest);
    const before = await cpuOf(procs);
    const { load: r, reqPerSec } = await spread(edges, s, t.keys.ingest, SECONDS);
    const acked = r.ok * s.events;
    const { landed, seconds } = await caughtUp(admin, t.tenant.id, acked);
    const after = await cpuOf(procs);
    const cpu = new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const));
    rows.push({ scenario: s.name, edges: edges.length, events: s.events, reqPerSec, load: r, acked, cpu, catchUpSeconds: seconds, tenantId: t.tenant.id, landed });
  }
  return rows;
}

/** The second edge gets its own data directory (spool) and node id, and the first edge's service secrets (ops/README.md). */
async function shareSecrets(from: string, to: string): Promise<void> {
  const secrets = path.join(to, 'secrets.json');
  await copyFile(path.join(from, 'secrets.json'), secrets);
  await chmod(secrets, 0o600);
}

async function scaleOut(): Promise<{ ceiling: CeilingRow[]; rows: Row[]; engine: string }> {
  const ceiling = await measureCeiling(SCENARIOS, WARMUP_SECONDS);
  const backend = await serverBackend();
  const dirs: string[] = [];
  const edges: Palisade[] = [];
  try {
    dirs.push(await tempDir('palisade-edge-1-'), await tempDir('palisade-edge-2-'));
    const [dir1 = '', dir2 = ''] = dirs;
    const first = await startPalisade({ dataDir: dir1, env: { ...backend.env(), ...EDGE_ENV, PALISADE_NODE_ID: 'edge-1' } });
    edges.push(first);
    await warmUp(edges, first);
    const rows = await measure(edges, first, backend);

    await shareSecrets(dir1, dir2);
    edges.push(await startPalisade({ dataDir: dir2, env: { ...backend.env(), ...EDGE_ENV, PALISADE_NODE_ID: 'edge-2' } }));
    await warmUp(edges, first);
    rows.push(...(await measure(edges, first, backend)));

    // SIGTERM flushes each spool; then every row is counted on the server, exactly as bench/run.ts counts.
    for (const e of edges) await e.stop();
    const wh = await backend.open('');
    try {
      const counts = await eventCounts(
        wh,
        rows.map((r) => r.tenantId),
      );
      for (const r of rows) {
        const c = counts[r.tenantId] ?? { rows: 0, unique: 0 };
        r.landed = c.unique;
        r.duplicates = c.rows - c.unique;
      }
    } finally {
      await wh.close();
    }
    return { ceiling, rows, engine: backend.label };
  } finally {
    for (const e of edges) if (e.proc.exitCode === null && e.proc.signalCode === null) await e.stop();
    for (const d of dirs) await removeDir(d);
    await backend.close();
  }
}

function print(ceiling: CeilingRow[], rows: Row[], engine: string): void {
  const generator = rows[0]?.load.generator ?? '?';
  const lines = [
    `Scale-out on the server path — ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
      `${SECONDS} s per row, ${CONNECTIONS} connections in all (split evenly over the edges, one ${generator}${generator === 'wrk' ? ' -t1' : ''} per edge), HTTPS on loopback, ` +
      `ClickHouse: ${engine === 'bridge' ? 'the test bridge (chDB in its own process)' : engine}`,
    '',
    '| scenario | edges | req/s | events/s | ratio to ceiling | p50 ms | p99 ms | errors | CPU µs/event (edges + engine) | acked | landed | lost | counted twice | queryable after |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const split: string[] = [];
  for (const c of ceiling) {
    const base = c.load.ok / c.load.seconds;
    lines.push(
      `| ${c.scenario} | bare node:https | ${fmt(base)} | ${fmt(base * c.events)} | 1 | ${fmt(c.load.p50, 1)} | ${fmt(c.load.p99, 1)} | ${c.load.failed} | ${fmt(c.cpuUsPerEvent, 1)} | — | — | — | — | — |`,
    );
    for (const r of rows.filter((x) => x.scenario === c.scenario)) {
      const perEvent = (s: number) => (s * 1e6) / Math.max(1, r.acked);
      const total = [...r.cpu.values()].reduce((a, b) => a + b, 0);
      const landed = r.landed ?? 0;
      lines.push(
        `| ${r.scenario} | ${r.edges} | ${fmt(r.reqPerSec)} | ${fmt(r.reqPerSec * r.events)} | ${fmt(r.reqPerSec / base, 3)} | ${fmt(r.load.p50, 1)} | ${fmt(r.load.p99, 1)} | ${r.load.failed} | ` +
          `${fmt(perEvent(total), 1)} | ${fmt(r.acked)} | ${fmt(landed)} | ${fmt(Math.max(0, r.acked - landed))} | ${fmt(r.duplicates ?? 0)} | ${fmt(r.catchUpSeconds, 2)} s |`,
      );
      split.push(`${r.scenario}, ${r.edges} edge${r.edges > 1 ? 's' : ''}: ${[...r.cpu].map(([k, v]) => `${k} ${fmt(perEvent(v), 1)}`).join(' · ')}`);
    }
  }
  lines.push(
    '',
    'CPU µs/event by process: ' + split.join('; '),
    '',
    `Each edge set first took ${WARMUP_SECONDS} s of each load, unmeasured; the ceiling row is one bare node:https process under all ${CONNECTIONS} connections. ` +
      'req/s sums the generators; p50 and p99 are the worse edge\'s. CPU: utime+stime of every edge and of the bridge (chDB, the engine) from the load\'s start until every ' +
      'acknowledged event was queryable, per acknowledged event; the generators\' CPU is not counted. lost = acknowledged − distinct ids in `events`; ' +
      'counted twice = physical rows − distinct ids (no FINAL), counted on the server after the edges stopped. ' +
      'landed may exceed acked by up to one request per connection: a generator stops counting at its deadline while the requests it already sent are still answered and stored.',
  );
  process.stdout.write(lines.join('\n') + '\n');
}

const { ceiling, rows, engine } = await scaleOut();
print(ceiling, rows, engine);
