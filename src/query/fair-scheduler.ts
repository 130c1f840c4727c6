/**
 * Fair queueing of tenant reads on the warehouse. A fixed number of reads run
 * at once (PALISADE_QUERY_MAX_CONCURRENT); the rest wait in one queue per
 * tenant, and whenever a slot frees the tenant with the fewest reads running
 * takes its turn (ties: the tenant served least recently). One tenant runs at
 * most `slots - 1` reads (at least 1): one slot is always left for another
 * tenant, whose query then starts at once instead of waiting for one of a
 * heavy tenant's multi-second queries to end. So a tenant that sends eight
 * queries at once never holds every slot, and another tenant's next query
 * runs next instead of behind all eight.
 *
 * Three lanes:
 *   - `system` (the flusher's lookups, key-table refreshes) never queues here
 *     and takes no slot: with at most `slots` tenant reads handed to the
 *     engine at a time, system work waits behind at most that many statements
 *     (chDB runs parameterised statements one at a time process-wide, so the
 *     engine's own queue is FIFO and only a short one keeps the flusher fast).
 *   - `interactive` (dashboard queries, the audit trail, support queries).
 *   - `bulk` (export pages): at most `bulkSlots` run at once, so exports never
 *     take every slot and a dashboard query always finds one within one
 *     interactive query's time.
 *
 * Plain TypeScript, no timers: the clock is only read to report queue waits.
 */
import { AppError, ErrorCode } from '../errors/index.ts';

export type Lane = 'system' | 'interactive' | 'bulk';

export interface FairSchedulerOptions {
  /** Tenant reads handed to the engine at once. */
  slots: number;
  /** Of those, at most this many bulk reads (default: slots - 1, at least 1). */
  bulkSlots?: number;
  /** Reads one tenant may run at once (default: slots - 1, at least 1). */
  perTenantSlots?: number;
  /** Reads waiting, all tenants together; past this a read is refused 429. */
  maxQueued: number;
  now?: () => number;
  /** Time a read waited for its slot (palisade metrics, tests). */
  observeWait?: (lane: Lane, ms: number) => void;
}

interface Task {
  lane: Exclude<Lane, 'system'>;
  start: () => void;
  queuedAt: number;
}

interface TenantQueue {
  interactive: Task[];
  bulk: Task[];
  running: number;
  /** The dispatch number of this tenant's last turn (lower: served longer ago). */
  lastTurn: number;
}

export interface SchedulerStats {
  running: number;
  bulkRunning: number;
  queued: number;
  tenantsWaiting: number;
}

export class FairScheduler {
  private readonly tenants = new Map<string, TenantQueue>();
  private readonly bulkSlots: number;
  private readonly perTenantSlots: number;
  private readonly now: () => number;
  private running = 0;
  private bulkRunning = 0;
  private queued = 0;
  private turn = 0;

  constructor(private readonly o: FairSchedulerOptions) {
    if (!Number.isInteger(o.slots) || o.slots < 1) throw new Error('slots must be a positive integer');
    this.bulkSlots = Math.max(1, Math.min(o.slots, o.bulkSlots ?? o.slots - 1));
    this.perTenantSlots = Math.max(1, Math.min(o.slots, o.perTenantSlots ?? o.slots - 1));
    this.now = o.now ?? Date.now;
  }

  stats(): SchedulerStats {
    let waiting = 0;
    for (const q of this.tenants.values()) if (q.interactive.length + q.bulk.length > 0) waiting++;
    return { running: this.running, bulkRunning: this.bulkRunning, queued: this.queued, tenantsWaiting: waiting };
  }

  /** Runs `fn` when it is this tenant's turn; refuses (429 too_many_queries) when the node's queue is full. */
  async run<T>(tenantId: string, lane: Lane, fn: () => Promise<T>): Promise<T> {
    if (lane === 'system') return await fn();
    if (this.queued >= this.o.maxQueued && !this.canStartNow(tenantId, lane)) {
      throw new AppError(ErrorCode.TOO_MANY_QUERIES, 'this node is answering too many queries; retry shortly', { retryAfter: 1 });
    }
    const q = this.queueOf(tenantId);
    await new Promise<void>((start) => {
      q[lane].push({ lane, start, queuedAt: this.now() });
      this.queued++;
      this.dispatch();
    });
    try {
      return await fn();
    } finally {
      this.running--;
      if (lane === 'bulk') this.bulkRunning--;
      q.running--;
      if (q.running === 0 && q.interactive.length + q.bulk.length === 0) this.tenants.delete(tenantId);
      this.dispatch();
    }
  }

  private canStartNow(tenantId: string, lane: Lane): boolean {
    const mine = this.tenants.get(tenantId)?.running ?? 0;
    return this.running < this.o.slots && mine < this.perTenantSlots && (lane !== 'bulk' || this.bulkRunning < this.bulkSlots) && this.queued === 0;
  }

  private queueOf(tenantId: string): TenantQueue {
    let q = this.tenants.get(tenantId);
    if (!q) {
      q = { interactive: [], bulk: [], running: 0, lastTurn: -1 };
      this.tenants.set(tenantId, q);
    }
    return q;
  }

  /** Hands free slots out, one turn at a time, to the tenant with the fewest reads running. */
  private dispatch(): void {
    while (this.running < this.o.slots) {
      const bulkOpen = this.bulkRunning < this.bulkSlots;
      let best: TenantQueue | undefined;
      for (const q of this.tenants.values()) {
        if (q.running >= this.perTenantSlots) continue;
        if (q.interactive.length === 0 && !(bulkOpen && q.bulk.length > 0)) continue;
        if (!best || q.running < best.running || (q.running === best.running && q.lastTurn < best.lastTurn)) best = q;
      }
      if (!best) return;
      const task = (best.interactive.length > 0 ? best.interactive.shift() : best.bulk.shift()) as Task;
      this.queued--;
      this.running++;
      if (task.lane === 'bulk') this.bulkRunning++;
      best.running++;
      best.lastTurn = this.turn++;
      this.o.observeWait?.(task.lane, this.now() - task.queuedAt);
      task.start();
    }
  }
}
