/**
 * Noisy neighbour: does one tenant's heavy reading, and a stranger flooding
 * another tenant's public browser key, slow that other tenant down?
 *   - Tenant A (BENCH_NOISY_EVENTS events, default 100k) runs 8 concurrent
 *     heavy queries (schema, top and trend over 30 days) and 4 concurrent
 *     exports in closed loops, retrying a refusal after BENCH_NOISY_RETRY_MS
 *     (default 20: an attacker who ignores Retry-After), from 127.0.1.1.
 *   - A stranger floods with tenant B's browser key (its allowed Origin,
 *     batches of 100) over 8 connections from 127.0.2.10–17: one /24.
 *   - Tenant B's visitors send one event every 100 ms from 127.0.3.1 with the
 *     browser key; B's dashboard runs its queries one after another from
 *     127.0.0.1; a probe sends one event with B's ingest key and polls B's
 *     trend until it is counted (acknowledgement → queryable).
 * First BENCH_NOISY_QUIET seconds (default 10) with only B, then
 * BENCH_NOISY_SECONDS (default 20) with everyone. Prints a table.
 *   BENCH_ONLY=noisy npm run bench     (or node --import tsx bench/noisy-neighbour.ts)
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from '../test/helpers/palisade.ts';
import { fmt, percentile } from './load.ts';

const EVENTS = Number(process.env.BENCH_NOISY_EVENTS ?? 100_000);
const QUIET_SECONDS = Number(process.env.BENCH_NOISY_QUIET ?? 10);
const LOAD_SECONDS = Number(process.env.BENCH_NOISY_SECONDS ?? 20);
const SHOP = 'https://shop.example';
// How long A waits after a refusal: 20 ms ignores Retry-After (the worst case); 1000 honours it.
const RETRY_MS = Number(process.env.BENCH_NOISY_RETRY_MS ?? 20);

interface Answer {
  status: number;
  ms: number;
  text: string;
}

type Call = (method: string, route: string, o?: { body?: unknown; headers?: Record<string, string> }) => Promise<Answer>;

/** HTTPS calls from one loopback source address (the server limits and splits budgets by client address). */
function client(p: Palisade, ca: string, localAddress: string, connections: number): { call: Call; close: () => Promise<void> } {
  const agent = new Agent({ connections, localAddress, connect: { ca }, keepAliveTimeout: 10_000 });
  const call: Call = async (method, route, o = {}) => {
    const t0 = performance.now();
    try {
      const res = await request(`https://localhost:${p.apiPort}${route}`, {
        method: method as 'GET',
        dispatcher: agent,
        headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
        body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
      });
      const text = await res.body.text();
      return { status: res.statusCode, ms: performance.now() - t0, text };
    } catch {
      return { status: 0, ms: performance.now() - t0, text: '' };
    }
  };
  return { call, close: () => agent.close() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` back to back until `until()`; `parallel` copies. */
async function loop(parallel: number, until: () => boolean, step: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: parallel }, async (_, i) => {
    while (!until()) await step(i);
  }));
}

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
const HEAVY = [
  { kind: 'schema', from: '-30d' },
  { kind: 'top', from: '-30d', by: { property: 'path' }, limit: 100 },
  { kind: 'trend', from: '-30d', interval: 'hour', breakdown: { property: 'plan' } },
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

interface Noise {
  queries: Record<string, number>;
  exports: Record<string, number>;
  exportedLines: number;
  flood: { accepted: number; refused: number };
}

async function noise(o: { a: CreatedTenant; b: CreatedTenant; callA: Call; flood: Call[]; until: () => boolean }): Promise<Noise> {
  const n: Noise = { queries: {}, exports: {}, exportedLines: 0, flood: { accepted: 0, refused: 0 } };
  const count = (m: Record<string, number>, s: number) => (m[String(s)] = (m[String(s)] ?? 0) + 1);
  const heavy = loop(8, o.until, async (i) => {
    const r = await o.callA('POST', '/v1/query', { body: HEAVY[i % HEAVY.length], headers: basic(o.a.keys.query) });
    count(n.queries, r.status);
    if (r.status !== 200) await sleep(RETRY_MS);
  });
  const exports = loop(4, o.until, async () => {
    const r = await o.callA('GET', '/v1/export', { headers: { authorization: `Bearer ${o.a.keys.query}` } });
    count(n.exports, r.status);
    if (r.status === 200) n.exportedLines += r.text.split('\n').length - 1;
    else await sleep(RETRY_MS);
  });
  const floodBatch = { writeKey: o.b.keys.browser, batch: Array.from({ length: 100 }, (_, i) => ({ type: 'track', event: 'Flood', anonymousId: `s${i}` })) };
  const flood = loop(8, o.until, async (i) => {
    const r = await (o.flood[i % o.flood.length] as Call)('POST', '/v1/batch', { body: floodBatch, headers: { origin: SHOP } });
    if (r.status === 200) n.flood.accepted++;
    else n.flood.refused++;
  });
  await Promise.all([heavy, exports, flood]);
  return n;
}

async function noisyNeighbour(): Promise<string> {
  const p = await startPalisade({ env: { PALISADE_FLUSH_INTERVAL_MS: '250' } });
  const ca = await readFile(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  const clients = [client(p, ca, '127.0.0.1', 4), client(p, ca, '127.0.1.1', 16), client(p, ca, '127.0.3.1', 2), ...Array.from({ length: 8 }, (_, i) => client(p, ca, `127.0.2.${10 + i}`, 1))];
  const [dash, attackerA, visitors, ...flood] = clients.map((c) => c.call) as [Call, Call, Call, ...Call[]];
  try {
    const [a, b] = await Promise.all([createTenant(p, 'noisy-a', [SHOP]), createTenant(p, 'quiet-b', [SHOP])]);
    // B's keys: 200 events/s, burst 1,000; each client network may spend a quarter of its browser key's.
    const set = await p.admin('PATCH', `/admin/tenants/${b.tenant.id}/settings`, { rateLimit: { eventsPerSecond: 200, burst: 1_000 } });
    if (set.status !== 200) throw new Error(`B's rate limit: ${set.status} ${set.text}`);
    const seeded = performance.now();
    await seedA(attackerA, a);
    await waitFor(async () => {
      const r = await attackerA('POST', '/v1/query', { body: { kind: 'trend', from: '-30d' }, headers: basic(a.keys.query) });
      return r.status === 200 && ((JSON.parse(r.text) as { total?: number }).total ?? 0) >= EVENTS;
    }, 300_000, "A's events to land");
    const seedSeconds = (performance.now() - seeded) / 1000;
    const probes = { n: 0 };
    const quiet = await phaseOfB({ dash, visitors, probe: dash, b, seconds: QUIET_SECONDS, probes });
    const end = performance.now() + LOAD_SECONDS * 1000;
    const [loaded, n] = await Promise.all([
      phaseOfB({ dash, visitors, probe: dash, b, seconds: LOAD_SECONDS, probes }),
      noise({ a, b, callA: attackerA, flood, until: () => performance.now() >= end }),
    ]);
    return report({ quiet, loaded, n, seedSeconds });
  } finally {
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
    `Noisy neighbour — ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; A: ${fmt(EVENTS)} events (seeded in ${fmt(o.seedSeconds, 1)} s), quiet ${QUIET_SECONDS} s then ${LOAD_SECONDS} s under load, A retries a refusal after ${RETRY_MS} ms`,
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
