/**
 * The ceiling every ingest table is measured against: bench/bare-server.ts (a
 * bare node:https server that reads the body and answers 200) in its own
 * child process, under the same closed-loop load as Palisade, in the same run.
 * Shared by bench/run.ts and bench/scale-out.ts.
 */
import { spawn } from 'node:child_process';
import { closedLoopRun as load, type ClosedLoopResult } from './load.ts';
import { cpuSeconds } from './process-cpu.ts';

export interface CeilingScenario {
  name: string;
  route: string;
  body: string;
  /** Events per request. */
  events: number;
}

export interface CeilingRow {
  scenario: string;
  load: ClosedLoopResult;
  events: number;
  /** CPU of the bare server over the load alone, µs per event. */
  cpuUsPerEvent: number;
}

/** A bare (or Hono-alone) server kept running, so a run can measure its ceiling more than once. */
export interface CeilingServer {
  /** `seconds` of unmeasured load (a warm server, as Palisade gets). */
  warm(s: CeilingScenario, seconds: number): Promise<void>;
  /** One measured load of SECONDS. */
  measure(s: CeilingScenario): Promise<CeilingRow>;
  stop(): void;
}

/** `mode` 'hono': the same server through Hono alone (bench/bare-server.ts), the framework's own cost. */
export async function startCeilingServer(mode: 'bare' | 'hono' = 'bare'): Promise<CeilingServer> {
  const server = 'bench/bare-server.ts';
  const proc = spawn(process.execPath, ['--import', 'tsx', server, ...(mode === 'hono' ? ['hono'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proc.stdout.once('data', (d: Buffer) => resolve((JSON.parse(String(d)) as { port: number }).port));
      proc.once('exit', (code) => reject(new Error(`${server} exited with ${code} during start`)));
    });
    const pid = proc.pid ?? 0;
    const url = (s: CeilingScenario) => `https://127.0.0.1:${port}/v1/${s.route}`;
    return {
      warm: async (s, seconds) => void (seconds > 0 && (await load(url(s), s.body, {}, seconds))),
      measure: async (s) => {
        const before = await cpuSeconds(pid);
        const r = await load(url(s), s.body, {});
        const cpu = (await cpuSeconds(pid)) - before;
        return { scenario: s.name, load: r, events: s.events, cpuUsPerEvent: (cpu * 1e6) / Math.max(1, r.ok * s.events) };
      },
      stop: () => void proc.kill('SIGTERM'),
    };
  } catch (err) {
    proc.kill('SIGTERM');
    throw err;
  }
}

/**
 * Two measurements of the same ceiling, one before and one after the load
 * they bracket, as one row: their mean rate (all requests over all seconds),
 * the mean of their latencies and CPU, and how far the second moved from the
 * first (why: bench/run.ts, DRIFT_WARNING).
 */
export function bracketed(before: CeilingRow, after: CeilingRow): CeilingRow & { drift: number; rates: [number, number] } {
  const rate = (r: CeilingRow) => r.load.ok / r.load.seconds;
  return {
    scenario: before.scenario,
    events: before.events,
    load: {
      generator: before.load.generator,
      ok: before.load.ok + after.load.ok,
      failed: before.load.failed + after.load.failed,
      seconds: before.load.seconds + after.load.seconds,
      p50: (before.load.p50 + after.load.p50) / 2,
      p99: (before.load.p99 + after.load.p99) / 2,
    },
    cpuUsPerEvent: (before.cpuUsPerEvent + after.cpuUsPerEvent) / 2,
    drift: rate(after) / rate(before) - 1,
    rates: [rate(before), rate(after)],
  };
}

/** Each scenario first for `warmupSeconds` unmeasured (a warm server, as Palisade gets), then measured once. */
export async function measureCeiling(scenarios: CeilingScenario[], warmupSeconds: number, mode: 'bare' | 'hono' = 'bare'): Promise<CeilingRow[]> {
  const server = await startCeilingServer(mode);
  try {
    for (const s of scenarios) await server.warm(s, warmupSeconds);
    const out: CeilingRow[] = [];
    for (const s of scenarios) out.push(await server.measure(s));
    return out;
  } finally {
    server.stop();
  }
}
