/**
 * Noisy neighbour: does one tenant's heavy reading, and a stranger flooding
 * another tenant's public browser key, slow that other tenant down?
 *   - Tenant A (BENCH_NOISY_EVENTS events, default 100k) runs 8 concurrent
 *     heavy queries (schema, top and trend over 30 days) and 4 concurrent
 *     exports in closed loops, retrying a refusal after BENCH_NOISY_RETRY_MS
 *     (default 20: an attacker who ignores Retry-After), from 127.0.1.1.
 *   - A stranger floods with tenant B's browser key (its allowed Origin,
 *     batches of 100) over 8 connections from 127.0.2.10–17: one /24.
 *   A and the stranger run in a process of their own (bench/noisy-load.ts),
 *   as they would on machines of their own: B's clock is not on their event loop.
 *   - Tenant B's visitors send one event every 100 ms from 127.0.3.1 with the
 *     browser key; B's dashboard runs its queries one after another from
 *     127.0.0.1; a probe sends one event with B's ingest key and polls B's
 *     trend until it is counted (acknowledgement → queryable).
 * First BENCH_NOISY_QUIET seconds (default 10) with only B, then
 * BENCH_NOISY_SECONDS (default 20) with everyone (BENCH_NOISY_PARTS=queries,exports,flood
 * keeps only some of A's queries, A's exports and the stranger's flood). Prints a table.
 *   BENCH_ONLY=noisy npm run bench     (or node --import tsx bench/noisy-neighbour.ts)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant } from '../test/helpers/palisade.ts';
import { fmt, percentile } from './load.ts';
import { client, loop, SHOP, sleep, type Call } from './noisy-common.ts';
import type { Noise, NoiseConfig } from './noisy-load.ts';

const EVENTS = Number(process.env.BENCH_NOISY_EVENTS ?? 100_000);
const QUIET_SECONDS = Number(process.env.BENCH_NOISY_QUIET ?? 10);
const LOAD_SECONDS = Number(process.env.BENCH_NOISY_SECONDS ?? 20);
// How long A waits after a refusal: 20 ms ignores Retry-After (the worst case); 1000 honours it.
const RETRY_MS = Number(process.env.BENCH_NOISY_RETRY_MS ?? 20);
// BENCH_NOISY_PARTS=queries,exports,flood (the default: all three) keeps some of the noise, to see which slows B.
const PARTS = (process.env.BENCH_NOISY_PARTS ?? 'queries,exports,flood').split(',').filter((x): x is NoiseConfig['parts'][number] => ['queries', 'exports', 'flood'].includes(x));

async function seedA(call: Call, a: CreatedTenant): Promise<void> {
  const now = Date.now();
  // 500 events of ~600 bytes per request: under the 500 KB body limit.
  for (let off = 0; off < EVENTS; off += 500) {
    const batch = Array.from({ length: Math.min(500, EVENTS - off) }, (_, i) => ({
      type: 'track',
      event: `Event ${(off + i) % 40}`,
      userId: `u${(off + i) % 5_000}`,
      properties: { plan: ['free', 'pro', 'team'][(off + i) % 3], path: `/p/${(off + i) % 300}`, pad: 'x'.repeat(400) },
      timestamp: new Date(now - ((off + i) % (6 * 86_400)) * 1_000).toISOString(),
    }));
    const r = await call('POST', '/v1/batch', { body: { batch }, headers: basic(a.keys.ingest) });
    if (r.status !== 200) throw new Error(`seeding A: ${r.status} ${r.text.slice(0, 200)}`);
  }
}

const DASHBOARD = [
  { kind: 'trend', from: '-7d', interval: 'day' },
  { kind: 'top', from: '-7d', by: { field: 'event' } },
  { kind: 'schema', from: '-7d' },
];

interface Phase {
  queries: number[];
  queryErrors: number;
  ackToQueryable: number[];
  visitors: { ok: number; refused: number; why: Record<string, number> };
}

async function phaseOfB(o: { dash: Call; visitors: Call; probe: Call; b: CreatedTenant; seconds: number; probes: { n: number } }): Promise<Phase> {
  const end = performance.now() + o.seconds * 1000;
  const until = () => performance.now() >= end;
  const out: Phase = { queries: [], queryErrors: 0, ackToQueryable: [], visitors: { ok: 0, refused: 0, why: {} } };
  const dashboard = loop(1, until, async () => {
    for (const q of DASHBOARD) {
      const r = await o.dash('POST', '/v1/query', { body: q, headers: basic(o.b.keys.query) });
      if (r.status === 200) out.queries.push(r.ms);
      else out.queryErrors++;
    }
  });
  const visitors = loop(1, until, async () => {
    const t0 = performance.now();
    const r = await o.visitors('POST', '/v1/track', { body: { writeKey: o.b.keys.browser, event: 'Visit', anonymousId: randomUUID() }, headers: { origin: SHOP } });
    if (r.status === 200) out.visitors.ok++;
    else {
      out.visitors.refused++;
      const code = `${r.status} ${/"code":"([a-z_]+)"/.exec(r.text)?.[1] ?? ''}`.trim();
      out.visitors.why[code] = (out.visitors.why[code] ?? 0) + 1;
    }
    await sleep(Math.max(0, 100 - (performance.now() - t0)));
  });
  const probes = loop(1, until, async () => {
    const r = await o.probe('POST', '/v1/track', { body: { event: 'Probe', userId: 'probe', messageId: randomUUID() }, headers: basic(o.b.keys.ingest) });
    if (r.status !== 200) return;
    const acked = performance.now();
    o.probes.n++;
    const want = o.probes.n;
    for (;;) {
      const q = await o.probe('POST', '/v1/query', { body: { kind: 'trend', from: '-1d', interval: 'day', events: ['Probe'] }, headers: basic(o.b.keys.query) });
      const total = q.status === 200 ? (JSON.parse(q.text) as { total?: number }).total ?? 0 : 0;
      if (total >= want) break;
      if (performance.now() - acked > 30_000) break;
      await sleep(25);
    }
    out.ackToQueryable.push(performance.now() - acked);
    await sleep(Math.random() * 250);
  });
  await Promise.all([dashboard, visitors, probes]);
  return out;
}

/** Starts bench/noisy-load.ts; `go()` starts its load, which ends after `seconds` with its counts. */
async function noiseProcess(config: NoiseConfig): Promise<{ go: () => Promise<Noise>; kill: () => void }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'noisy-load.ts'), JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const seen: string[] = [];
  let wake: (() => void) | undefined;
  lines.on('line', (l) => {
    seen.push(l);
    wake?.();
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const waitLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const hit = seen.find((l) => l.startsWith(prefix));
      if (hit) return hit;
      if (proc.exitCode !== null) throw new Error(`bench/noisy-load.ts exited with ${proc.exitCode} before printing ${prefix}`);
      await Promise.race([new Promise<void>((r) => (wake = r)), exited]);
    }
  };
  await waitLine('READY');
  return {
    go: async () => {
      proc.stdin.write('go\n');
      const line = await waitLine('NOISE ');
      return JSON.parse(line.slice('NOISE '.length)) as Noise;
    },
    kill: () => void proc.kill('SIGKILL'),
  };
}

async function noisyNeighbour(): Promise<string> {
  const p = await startPalisade({ env: { PALISADE_FLUSH_INTERVAL_MS: '250' } });
  const ca = await readFile(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  // B's dashboard and probe from 127.0.0.1, B's visitors from 127.0.3.1; A (seeding here, then its load process) from 127.0.1.1.
  const clients = [client(p.apiPort, ca, '127.0.0.1', 4), client(p.apiPort, ca, '127.0.1.1', 16), client(p.apiPort, ca, '127.0.3.1', 2)];
  const [dash, seeder, visitors] = clients.map((c) => c.call) as [Call, Call, Call];
  let load: Awaited<ReturnType<typeof noiseProcess>> | undefined;
  try {
    const [a, b] = await Promise.all([createTenant(p, 'noisy-a', [SHOP]), createTenant(p, 'quiet-b', [SHOP])]);
    // B's keys: 200 events/s, burst 1,000; each client network may spend a quarter of its browser key's.
    const set = await p.admin('PATCH', `/admin/tenants/${b.tenant.id}/settings`, { rateLimit: { eventsPerSecond: 200, burst: 1_000 } });
    if (set.status !== 200) throw new Error(`B's rate limit: ${set.status} ${set.text}`);
    const seeded = performance.now();
    await seedA(seeder, a);
    await waitFor(async () => {
      const r = await seeder('POST', '/v1/query', { body: { kind: 'trend', from: '-30d' }, headers: basic(a.keys.query) });
      return r.status === 200 && ((JSON.parse(r.text) as { total?: number }).total ?? 0) >= EVENTS;
    }, 300_000, "A's events to land");
    const seedSeconds = (performance.now() - seeded) / 1000;
    load = await noiseProcess({ port: p.apiPort, ca, aQueryKey: a.keys.query, bBrowserKey: b.keys.browser, seconds: LOAD_SECONDS, retryMs: RETRY_MS, parts: PARTS });
    const probes = { n: 0 };
    const quiet = await phaseOfB({ dash, visitors, probe: dash, b, seconds: QUIET_SECONDS, probes });
    const [loaded, n] = await Promise.all([phaseOfB({ dash, visitors, probe: dash, b, seconds: LOAD_SECONDS, probes }), load.go()]);
    return report({ quiet, loaded, n, seedSeconds });
  } finally {
    load?.kill();
    await Promise.all(clients.map((c) => c.close()));
    await p.stop();
    await removeDir(p.dataDir);
  }
}

function report(o: { quiet: Phase; loaded: Phase; n: Noise; seedSeconds: number }): string {
  const q = (xs: number[], pct: number) => fmt(percentile([...xs].sort((x, y) => x - y), pct), 1);
  const quietP50 = percentile([...o.quiet.queries].sort((x, y) => x - y), 50);
  const loadP50 = percentile([...o.loaded.queries].sort((x, y) => x - y), 50);
  const ackP99 = percentile([...o.loaded.ackToQueryable].sort((x, y) => x - y), 99);
  const pass = (ok: boolean) => (ok ? '✓' : '✗');
  const lines = [
    `Noisy neighbour — ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; A: ${fmt(EVENTS)} events (seeded in ${fmt(o.seedSeconds, 1)} s), quiet ${QUIET_SECONDS} s then ${LOAD_SECONDS} s under load (${PARTS.join(', ')}), A retries a refusal after ${RETRY_MS} ms`,
    '',
    '| tenant B | quiet | A + stranger loading | target |',
    '|---|---:|---:|---|',
    `| dashboard query p50 ms | ${q(o.quiet.queries, 50)} | ${q(o.loaded.queries, 50)} | ≤ 3 × quiet p50 ${pass(loadP50 <= 3 * quietP50)} (${fmt(loadP50 / quietP50, 1)} ×) |`,
    `| dashboard query p99 ms | ${q(o.quiet.queries, 99)} | ${q(o.loaded.queries, 99)} | — |`,
    `| dashboard queries ok / refused | ${o.quiet.queries.length} / ${o.quiet.queryErrors} | ${o.loaded.queries.length} / ${o.loaded.queryErrors} | 0 refused ${pass(o.loaded.queryErrors === 0)} |`,
    `| ack → queryable p50 ms | ${q(o.quiet.ackToQueryable, 50)} | ${q(o.loaded.ackToQueryable, 50)} | — |`,
    `| ack → queryable p99 ms | ${q(o.quiet.ackToQueryable, 99)} | ${q(o.loaded.ackToQueryable, 99)} | ≤ 2000 ${pass(ackP99 <= 2_000)} |`,
    `| visitors' events ok / refused | ${o.quiet.visitors.ok} / ${o.quiet.visitors.refused} | ${o.loaded.visitors.ok} / ${o.loaded.visitors.refused} | 0 refused ${pass(o.loaded.visitors.refused === 0)} |`,
    '',
    ...(o.loaded.visitors.refused > 0 ? [`B's visitors refused under load, by status and code: ${JSON.stringify(o.loaded.visitors.why)}`] : []),
    `Tenant A's heavy queries by status: ${JSON.stringify(o.n.queries)} · exports by status: ${JSON.stringify(o.n.exports)} (${fmt(o.n.exportedLines)} lines) · ` +
      `stranger's flood batches of 100 with B's browser key: ${fmt(o.n.flood.accepted)} accepted, ${fmt(o.n.flood.refused)} refused`,
  ];
  return lines.join('\n');
}

process.stdout.write(`${await noisyNeighbour()}\n`);
