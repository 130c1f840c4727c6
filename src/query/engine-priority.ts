/**
 * The embedded engine's `priority` setting for a tenant read: 1 (first) or
 * 2 (yields). ClickHouse pauses lower-priority statements while
 * higher-priority ones run in the same process, so a dashboard's 20 ms query
 * is not slowed by another tenant's multi-second scan sharing the CPU
 * (bench/param-chain.ts style check here: a short query beside two long ones
 * took ~950 ms without priorities, ~350 ms with, ~330 ms alone).
 *
 * Which reads yield: exports (the bulk lane), and the reads of a tenant
 * whose recent reads have averaged more than SLOW_MS (an exponentially
 * weighted mean over its last few, so one slow query does not demote a
 * tenant and a tenant that turns light is promoted again within a few reads).
 * A yielding read also runs on one thread, leaving the other core(s) to
 * everyone else. The fair scheduler decides who runs; this only decides who
 * yields the CPU.
 */
import { boundedCache } from '../cache/bounded.ts';
import type { Lane } from './fair-scheduler.ts';

// A dashboard query answers in tens of ms here (bench/query.ts, quiet noisy-neighbour runs: 15–25 ms);
// a tenant whose reads average a quarter of a second is scanning, not drawing charts.
export const SLOW_MS = 250;
// Weight of the newest read: about the last five reads count.
const ALPHA = 0.3;

export class EnginePriority {
  // One number per tenant; 100k tenants ≈ a few MB.
  private readonly meanMs = boundedCache<string, number>(100_000);

  priorityOf(tenantId: string, lane: Exclude<Lane, 'system'>): 1 | 2 {
    if (lane === 'bulk') return 2;
    return (this.meanMs.get(tenantId) ?? 0) > SLOW_MS ? 2 : 1;
  }

  /** A read of this tenant took `ms` (ok or not: a timeout is the slowest read of all). */
  observe(tenantId: string, ms: number): void {
    const prev = this.meanMs.get(tenantId);
    this.meanMs.set(tenantId, prev === undefined ? ms : prev + ALPHA * (ms - prev));
  }
}
