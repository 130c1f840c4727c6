/**
 * Shared steps of the fault drills: restart a server on its data directory and
 * ports, wait until what was acknowledged has landed, and print the result line.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Warehouse } from '../../src/storage/warehouse.ts';
import type { Backend } from './clickhouse-backend.ts';
import { startPalisade, stats, type Palisade } from './palisade.ts';
import { sleep, stopAllTraffic, verifyLedger, type LedgerResult, type SentRequest } from './traffic.ts';

const live = new Set<Palisade>();

/** Starts a server for a drill; `killAll` (in `after`) ends any a failed assertion left running. */
export async function launch(o: { dataDir?: string; env?: Record<string, string> } = {}): Promise<Palisade> {
  const p = await startPalisade(o);
  live.add(p);
  p.proc.once('exit', () => live.delete(p));
  return p;
}

/** Ends what a failed drill left running: its traffic first (it would retry for ever), then its servers. */
export async function killAll(): Promise<void> {
  await stopAllTraffic();
  for (const p of [...live]) await p.kill();
}

/** Starts the server again on the same data directory and the same ports (clients keep their address). */
export async function restart(p: Palisade, env: Record<string, string> = {}): Promise<Palisade> {
  return await launch({
    dataDir: p.dataDir,
    env: { ...envOf(p), ...env, PALISADE_PORT: String(p.apiPort), PALISADE_ADMIN_PORT: String(p.adminPort) },
  });
}

/** The PALISADE_* / CLICKHOUSE_* variables a server was started with, to start it again the same way. */
export function envOf(p: Palisade): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.env)) if (v !== undefined && /^(PALISADE|CLICKHOUSE)_/.test(k)) out[k] = v;
  return out;
}

/** Distinct message ids the tenants have, read through the admin stats (works on both backends while the server runs). */
export async function landedCount(p: Palisade, tenantIds: string[]): Promise<number> {
  let n = 0;
  for (const t of tenantIds) n += (await stats(p, t)).events;
  return n;
}

/** Waits until at least `expected` distinct events of the tenants are queryable. */
export async function waitLanded(p: Palisade, tenantIds: string[], expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await landedCount(p, tenantIds);
    if (n >= expected) return n;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${expected} events landed after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Stops the server gracefully (exit 0), opens what it wrote and checks the
 * ledger. The embedded engine can only be read once its server has stopped.
 */
export async function finish(
  t: TestContext,
  name: string,
  p: Palisade,
  backend: Backend,
  tenantIds: string[],
  requests: readonly SentRequest[],
  o: { exclude?: ReadonlySet<string>; reader?: Warehouse } = {},
): Promise<LedgerResult> {
  assert.equal(await p.stop(), 0, 'graceful shutdown exits 0');
  const wh = o.reader ?? (await backend.open(p.dataDir));
  try {
    const r = await verifyLedger(wh, tenantIds, requests, o);
    report(t, name, r.line);
    return r;
  } finally {
    if (!o.reader) await wh.close();
  }
}

/** The drill's figures, on stdout (the CI log) and as a test diagnostic. */
export function report(t: TestContext, name: string, line: string): void {
  process.stdout.write(`[fault] ${name}: ${line}\n`);
  t.diagnostic(`${name}: ${line}`);
}
