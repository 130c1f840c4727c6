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

/**
 * Each scenario first for `warmupSeconds` unmeasured (a warm server, as Palisade gets), then measured.
 * `mode` 'hono': the same server through Hono alone (bench/bare-server.ts), the framework's own cost.
 */
export async function measureCeiling(scenarios: CeilingScenario[], warmupSeconds: number, mode: 'bare' | 'hono' = 'bare'): Promise<CeilingRow[]> {
  const server = 'bench/bare-server.ts';
  const proc = spawn(process.execPath, ['--import', 'tsx', server, ...(mode === 'hono' ? ['hono'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: CeilingRow[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proc.stdout.once('data', (d: Buffer) => resolve((JSON.parse(String(d)) as { port: number }).port));
      proc.once('exit', (code) => reject(new Error(`${server} exited with ${code} during start`)));
    });
    const pid = proc.pid ?? 0;
    for (const s of scenarios) if (warmupSeconds > 0) await load(`https://127.0.0.1:${port}/v1/${s.route}`, s.body, {}, warmupSeconds);
    for (const s of scenarios) {
      const before = await cpuSeconds(pid);
      const r = await load(`https://127.0.0.1:${port}/v1/${s.route}`, s.body, {});
      const cpu = (await cpuSeconds(pid)) - before;
      out.push({ scenario: s.name, load: r, events: s.events, cpuUsPerEvent: (cpu * 1e6) / Math.max(1, r.ok * s.events) });
    }
  } finally {
    proc.kill('SIGTERM');
  }
  return out;
}
