/**
 * Load generation shared by the benchmarks.
 *   closedLoop   autocannon: N connections sending back to back for S seconds,
 *                the throughput tables of bench/run.ts and bench/durability.ts.
 *   arrivals     an open model like k6's constant- and ramping-arrival-rate
 *                executors, for bench/scenarios.ts: requests start on a
 *                schedule whether or not earlier ones have answered, so a slow
 *                server shows as latency instead of a lower request rate.
 *                autocannon's overallRate is not that: each connection sends
 *                its share of a second back to back and then waits, so load
 *                arrives in bursts at each second's start.
 *   scrape       the admin listener's /metrics, parsed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { Agent, request, type Dispatcher } from 'undici';
import type { Palisade } from '../test/helpers/palisade.ts';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

/**
 * In a body, stands for a messageId the generator makes fresh for each event
 * of each request (`<run>-<request>-<event>`), as an SDK does; each run of the
 * generator has its own `<run>`, so no two requests ever repeat an id.
 */
export const MESSAGE_ID = '__MESSAGE_ID__';

export async function closedLoop(url: string, body: string, headers: Record<string, string>, seconds = SECONDS, connections = CONNECTIONS): Promise<autocannon.Result> {
  const run = randomBytes(6).toString('hex');
  let n = 0;
  const fresh = body.includes(MESSAGE_ID)
    ? () => {
        n += 1;
        let k = 0;
        return body.replaceAll(MESSAGE_ID, () => `${run}-${n}-${++k}`);
      }
    : undefined;
  return await autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    connections,
    duration: seconds,
    tlsOptions: { rejectUnauthorized: false },
    ...(fresh ? { requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: fresh() }) }] } : {}),
  });
}

/** What a closed-loop run measured, whichever generator ran it. */
export interface ClosedLoopResult {
  generator: 'wrk' | 'autocannon';
  /** Requests answered 2xx. */
  ok: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
}

const WRK = '/usr/bin/wrk';
const run = promisify(execFile);

/** Lua long brackets need a level no string inside uses. */
function luaString(s: string): string {
  let eq = '';
  while (s.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${s}]${eq}]`;
}

/**
 * wrk with one thread, as the figures were taken: the load generator
 * then needs far less CPU than autocannon, so more of the machine is left for
 * the server. A Lua script sets the POST body and counts 200s per thread.
 */
async function wrk(url: string, body: string, headers: Record<string, string>, seconds: number, connections: number): Promise<ClosedLoopResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'palisade-wrk-'));
  try {
    const script = path.join(dir, 'post.lua');
    const lines = [
      'wrk.method = "POST"',
      `wrk.body = ${luaString(body)}`,
      ...Object.entries({ 'content-type': 'application/json', ...headers }).map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`),
      'local threads = {}',
      'function setup(thread) table.insert(threads, thread) end',
      'function init(args) ok = 0 end',
      'function response(status, headers, body) if status >= 200 and status < 300 then ok = ok + 1 end end',
      // A body with MESSAGE_ID gets fresh ids on every request: the template is cut at each
      // MESSAGE_ID once, and each request joins the pieces with new ids (cheaper than gsub).
      ...(body.includes(MESSAGE_ID)
        ? [
            `local run = "${randomBytes(6).toString('hex')}"`,
            'local n = 0',
            'local parts = {}',
            `for piece in (wrk.body .. "${MESSAGE_ID}"):gmatch("(.-)${MESSAGE_ID}") do parts[#parts + 1] = piece end`,
            'function request()',
            '  n = n + 1',
            '  local t = {}',
            '  for k = 1, #parts - 1 do t[#t + 1] = parts[k]; t[#t + 1] = run .. "-" .. n .. "-" .. k end',
            '  t[#t + 1] = parts[#parts]',
            '  return wrk.format(nil, nil, nil, table.concat(t))',
            'end',
          ]
        : []),
      'function done(summary, latency, requests)',
      '  local n = 0',
      '  for _, t in ipairs(threads) do n = n + t:get("ok") end',
      '  local e = summary.errors',
      `  io.write(string.format('WRK_RESULT {"ok":%d,"requests":%d,"errors":%d,"us":%d,"p50":%d,"p99":%d}\\n',`,
      '    n, summary.requests, e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))',
      'end',
    ];
    await writeFile(script, lines.join('\n') + '\n');
    const { stdout } = await run(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url], { maxBuffer: 1 << 20 });
    const line = stdout.split('\n').find((l) => l.startsWith('WRK_RESULT '));
    if (!line) throw new Error(`wrk printed no result:\n${stdout}`);
    const r = JSON.parse(line.slice('WRK_RESULT '.length)) as { ok: number; requests: number; errors: number; us: number; p50: number; p99: number };
    return { generator: 'wrk', ok: r.ok, failed: r.requests - r.ok + r.errors, seconds: r.us / 1e6, p50: r.p50 / 1000, p99: r.p99 / 1000 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The closed-loop load of the ingest table: wrk when installed (BENCH_GENERATOR=autocannon to force the fallback).
 * `connections`: bench/scale-out.ts splits the 32 between two edges, one generator per edge.
 */
export async function closedLoopRun(url: string, body: string, headers: Record<string, string>, seconds = SECONDS, connections = CONNECTIONS): Promise<ClosedLoopResult> {
  if (process.env.BENCH_GENERATOR !== 'autocannon' && existsSync(WRK)) return await wrk(url, body, headers, seconds, connections);
  const r = await closedLoop(url, body, headers, seconds, connections);
  return { generator: 'autocannon', ok: r['2xx'], failed: r.non2xx + r.errors + r.timeouts, seconds, p50: r.latency.p50, p99: r.latency.p99 };
}

/** One answered (or failed) request of an arrival-rate run. */
export interface Outcome {
  /** Seconds from the run's start to when the request was sent. */
  at: number;
  ms: number;
  /** HTTP status; 0 when the request failed without one (connection error). */
  status: number;
  /** `error.code` of a refusal, or the connection error's code. */
  code?: string;
  /** Events the server accepted (a 200 from an ingest route). */
  accepted?: number;
  retryAfter?: string;
}

export interface ArrivalRun {
  outcomes: Outcome[];
  /** Arrivals not sent because `maxInFlight` requests were already open (k6: dropped_iterations). */
  dropped: number;
  seconds: number;
}

export interface ArrivalOptions {
  /** The origin, e.g. https://127.0.0.1:8443. */
  origin: string;
  path: string;
  dispatcher: Dispatcher;
  /** Arrivals per second at `t` seconds into the run. */
  rate: (t: number) => number;
  seconds: number;
  /** k6's maxVUs: arrivals beyond this many open requests are dropped and counted. */
  maxInFlight: number;
  next: () => { body: string; headers: Record<string, string> };
}

/** An undici pool for one source address; the server caps connections per IP (PALISADE_MAX_CONNECTIONS_PER_IP, 256). */
export function pool(connections: number, localAddress?: string): Agent {
  return new Agent({ connections, pipelining: 1, keepAliveTimeout: 10_000, connect: { rejectUnauthorized: false }, ...(localAddress ? { localAddress } : {}) });
}

async function send(o: ArrivalOptions, started: number): Promise<Outcome> {
  const { body, headers } = o.next();
  const t0 = performance.now();
  const at = (t0 - started) / 1000;
  try {
    const res = await request(`${o.origin}${o.path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, dispatcher: o.dispatcher });
    const text = await res.body.text();
    const ms = performance.now() - t0;
    const retryAfter = typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : undefined;
    let parsed: { accepted?: unknown; error?: { code?: unknown } } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      /* not JSON: counted by status alone */
    }
    const accepted = res.statusCode === 200 && typeof parsed.accepted === 'number' ? parsed.accepted : undefined;
    const code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
    return { at, ms, status: res.statusCode, code, accepted, retryAfter };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { at, ms: performance.now() - t0, status: 0, code: typeof code === 'string' ? code : 'request_failed' };
  }
}

// 5 ms ticks: at 2,000 arrivals/s that is 10 per tick, close enough to evenly spaced.
const TICK_MS = 5;

export async function arrivals(o: ArrivalOptions): Promise<ArrivalRun> {
  const outcomes: Outcome[] = [];
  const open = new Set<Promise<void>>();
  let dropped = 0;
  let due = 0;
  const started = performance.now();
  let last = started;
  for (;;) {
    const now = performance.now();
    const t = (now - started) / 1000;
    if (t >= o.seconds) break;
    due += (o.rate(t) * (now - last)) / 1000;
    last = now;
    for (; due >= 1; due -= 1) {
      if (open.size >= o.maxInFlight) {
        dropped++;
        continue;
      }
      const p: Promise<void> = send(o, started).then((r) => {
        outcomes.push(r);
        open.delete(p);
      });
      open.add(p);
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await Promise.all(open);
  return { outcomes, dropped, seconds: o.seconds };
}

export interface Sample {
  name: string;
  labels: string;
  value: number;
}

/** The admin listener's /metrics, one entry per series. */
export async function scrape(p: Palisade): Promise<Sample[]> {
  const r = await p.admin('GET', '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const out: Sample[] = [];
  for (const line of r.text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1] && m[3]) out.push({ name: m[1], labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

/** Sum of a metric's series, optionally only those whose labels contain `label` (e.g. `scope="key"`). */
export function metric(samples: Sample[], name: string, label?: string): number {
  return samples.filter((s) => s.name === name && (!label || s.labels.includes(label))).reduce((sum, s) => sum + s.value, 0);
}

/** The series of a labelled counter, as `label value → count` (e.g. for `code` or `reason`). */
export function byLabel(samples: Sample[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples.filter((x) => x.name === name)) {
    const v = /="([^"]*)"/.exec(s.labels)?.[1] ?? '';
    out[v] = (out[v] ?? 0) + s.value;
  }
  return out;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
