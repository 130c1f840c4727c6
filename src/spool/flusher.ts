/**
 * Step 8 of the data flow (docs/architecture.md): moves spooled events into ClickHouse and checkpoints.
 * Each cycle reads from the checkpoint, groups the rows per tenant, writes the
 * groups through EventWriter (the only code that inserts events; one INSERT
 * carries up to 100 tenant-month partitions), and commits the spool
 * only when every tenant group landed or was dead-lettered, so nothing is
 * ever committed past a row that is not in ClickHouse. Spool records hold
 * each row as the line its INSERT sends (src/spool/payload.ts), so a cycle
 * decodes nothing but the record index and concatenates bytes. EventWriter
 * skips message_ids already stored; rows whose id this server generated are
 * not looked up in steady state (no client can retry them, and a replay of
 * the same records carries the same dedup token), but every row is while the
 * cycle may repeat an insert that was not committed: records a previous
 * process left behind, and the records after a failed cycle.
 * Logs carry counts, tenant ids and error codes, never row contents.
 */
import { hash } from 'node:crypto';
import { OneAtATime } from '../concurrency/one-at-a-time.ts';
import { TimeSlice } from '../concurrency/time-slice.ts';
import type { Logger } from '../log/index.ts';
import { GuardViolation, lineAsObjectJson, lineBoundTo, linePrefix, type EventWriter, type InsertRow, type TenantBatch } from '../storage/event-writer.ts';
import { WarehouseError, type Warehouse } from '../storage/warehouse.ts';
import { GUARD_VIOLATION, UNDECODABLE, writeDeadLetters, type DeadLetter } from '../storage/dead-letters.ts';
import { decodeSpoolPayload, type SpoolPayload } from './payload.ts';
import type { Cursor, Spool } from './spool.ts';

export interface FlusherOptions {
  spool: Pick<Spool, 'read' | 'commit' | 'checkpoint' | 'stats'>;
  writer: Pick<EventWriter, 'write' | 'writeMany'>;
  warehouse: Warehouse;
  logger: Logger;
  /** 1 s between cycles: one INSERT per active tenant per second keeps ClickHouse's part count low. */
  intervalMs?: number;
  /** Rows per cycle; 100k rows took 0.46 s to insert in chDB here, so 10k is ~50 ms of engine time. */
  maxRows?: number;
  /** Consecutive failed cycles before status() reports unhealthy (~1.5 s of expected backoff at the 100 ms base). */
  unhealthyAfter?: number;
  /** Cap of the exponential backoff (default 30 s). */
  backoffMaxMs?: number;
  /** Each cycle that moved rows or failed, with its duration (palisade_flusher_batch_duration_seconds). */
  onBatch?: (outcome: 'ok' | 'error', seconds: number) => void;
}

export interface FlushResult {
  /** Rows handled this cycle: inserted, skipped as duplicates, or dead-lettered. */
  rows: number;
  tenants: number;
}

export interface FlusherStatus {
  healthy: boolean;
  consecutiveFailures: number;
  /** The last failure seen, as error class and code only: never a message that could quote a row. */
  lastError?: string;
  lastSuccessAt: number | null;
  /** Rows handled: inserted, skipped as already stored, or dead-lettered. */
  rowsFlushed: number;
  /** Rows written to `events`. */
  rowsInserted: number;
  /** Rows skipped because their message_id was already stored (a client retry or a spool replay). */
  duplicatesSkipped: number;
  deadLettered: number;
  deadLetteredByReason: Record<DeadLetterReason, number>;
  /** Rows the storage guard refused: each is a bug upstream, so it is alerted on. */
  guardViolations: number;
}

/** Why rows were dead-lettered, as a small fixed set (a metric label, never a message). */
export type DeadLetterReason = 'clickhouse_rejected' | 'guard_violation' | 'undecodable';

// Full-jitter exponential backoff: 100 ms first, 30 s cap so a long outage costs one attempt per ≤30 s.
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 30_000;
// Bounds one cycle's memory: 10k rows of ~1 KB is ~10 MB.
const READ_MAX_BYTES = 32 * 1024 * 1024;

interface Group {
  rows: InsertRow[];
  refused: DeadLetter[];
  positions: string[];
}

/**
 * Same group → same token, so a replay after a crash is dropped by the engine.
 * Positions alone repeat across edges and across a recreated spool directory
 * (seq restarts at 1), and a reused token would make ClickHouse silently drop
 * a different batch; hashing the message_ids in too keeps distinct batches distinct.
 */
export function groupToken(g: { positions: readonly string[]; rows: readonly { messageId: string }[] }): string {
  // The hashed text is a compatibility contract (a replay after an upgrade must repeat the token,
  // flusher.test.ts pins it): positions joined by ',', a newline, then each message_id and a ','.
  // One string and one hash: a hash update per id cost ~3x as much.
  let text = g.positions.join(',') + '\n';
  for (const r of g.rows) text += r.messageId + ',';
  return 'sp' + hash('sha256', text, 'hex').slice(0, 32);
}

export class Flusher {
  private cursor: Cursor;
  private readonly cycles = new OneAtATime();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private failures = 0;
  private lastError: string | undefined;
  private lastSuccessAt: number | null = null;
  private rowsFlushed = 0;
  private rowsInserted = 0;
  private duplicatesSkipped = 0;
  private deadLettered: Record<DeadLetterReason, number> = { clickhouse_rejected: 0, guard_violation: 0, undecodable: 0 };
  private guardViolations = 0;
  private lastWasFull = false;
  /** Records the current cycle read: unverified if it fails. */
  private lastRead = 0;
  private readonly intervalMs: number;
  private readonly maxRows: number;
  /** Rows per cycle now: halved after a 'limit' error so a batch too big for the engine cannot stall the spool. */
  private batchRows: number;
  /**
   * Records from the cursor on that an INSERT may already have carried
   * without a commit: those a previous process left (all of them at start)
   * and those of a failed cycle. While any are ahead, every row is looked up.
   */
  private unverifiedRecords: number;

  constructor(private readonly o: FlusherOptions) {
    this.cursor = o.spool.checkpoint();
    this.unverifiedRecords = o.spool.stats().records;
    this.intervalMs = o.intervalMs ?? 1000;
    this.maxRows = o.maxRows ?? 10_000;
    this.batchRows = this.maxRows;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Stops the loop, then keeps flushing until the spool is empty or `deadlineMs` (from now) has passed. */
  async stop(options: { deadlineMs?: number } = {}): Promise<{ drained: boolean; records: number }> {
    const deadline = Date.now() + (options.deadlineMs ?? 10_000);
    this.stopping = true;
    this.wake?.();
    if (this.loop) await beforeDeadline(this.loop, deadline);
    this.loop = null;
    while (Date.now() < deadline && this.o.spool.stats().records > 0) {
      const before = this.cursor;
      const outcome = await beforeDeadline(this.flushOnce().then(() => 'ok' as const, () => 'failed' as const), deadline);
      if (outcome === 'failed') await beforeDeadline(delay(this.backoffMs()), deadline);
      else if (outcome === 'timeout' || this.cursor === before) break;
    }
    const records = this.o.spool.stats().records;
    return { drained: records === 0, records };
  }

  /** One cycle; cycles never overlap. Rejects (cursor unchanged) when the warehouse is unavailable. */
  async flushOnce(): Promise<FlushResult> {
    return await this.cycles.run(() => this.cycle());
  }

  status(): FlusherStatus {
    return {
      healthy: this.failures < (this.o.unhealthyAfter ?? 5),
      consecutiveFailures: this.failures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      lastSuccessAt: this.lastSuccessAt,
      rowsFlushed: this.rowsFlushed,
      rowsInserted: this.rowsInserted,
      duplicatesSkipped: this.duplicatesSkipped,
      deadLettered: this.deadLettered.clickhouse_rejected + this.deadLettered.guard_violation + this.deadLettered.undecodable,
      deadLetteredByReason: { ...this.deadLettered },
      guardViolations: this.guardViolations,
    };
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const started = performance.now();
      let wait = this.intervalMs;
      try {
        await this.flushOnce();
        // A full batch means more is waiting: go again at once rather than sleep. Otherwise the
        // interval runs from this cycle's start: a cycle that shares the thread with requests
        // (and so takes longer) does not also push the next one back.
        wait = this.lastWasFull ? 0 : Math.max(0, this.intervalMs - (performance.now() - started));
      } catch {
        wait = this.backoffMs();
      }
      if (wait > 0 && !this.stopping) await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = null;
    }
  }

  private backoffMs(): number {
    return Math.random() * Math.min(this.o.backoffMaxMs ?? BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, this.failures - 1));
  }

  private async cycle(): Promise<FlushResult> {
    const started = performance.now();
    try {
      const result = await this.flushBatch();
      if (result.rows > 0) this.o.onBatch?.('ok', (performance.now() - started) / 1000);
      this.failures = 0;
      this.batchRows = Math.min(this.maxRows, this.batchRows * 2);
      this.lastSuccessAt = Date.now();
      this.rowsFlushed += result.rows;
      if (result.rows > 0) this.o.logger.debug({ rows: result.rows, tenants: result.tenants }, 'spool flushed');
      return result;
    } catch (err) {
      this.failures += 1;
      this.unverifiedRecords = Math.max(this.unverifiedRecords, this.lastRead);
      this.o.onBatch?.('error', (performance.now() - started) / 1000);
      this.lastError = describe(err);
      if (err instanceof WarehouseError && err.kind === 'limit') this.batchRows = Math.max(1, this.batchRows >>> 1);
      const fields = err instanceof WarehouseError ? { kind: err.kind, clickhouseCode: err.clickhouseCode } : { error: this.lastError };
      this.o.logger.warn({ ...fields, consecutiveFailures: this.failures }, 'spool flush failed; will retry from the checkpoint');
      throw err;
    }
  }

  private async flushBatch(): Promise<FlushResult> {
    // One slice for the whole cycle (reading, decoding, writing): it runs on the request thread.
    const slice = new TimeSlice();
    const { entries, next } = await this.o.spool.read(this.cursor, { maxRecords: this.batchRows, maxBytes: READ_MAX_BYTES, slice });
    this.lastRead = entries.length;
    const groups = new Map<string, Group>();
    let rows = 0;
    let records = 0;
    let upTo = next;
    for (let i = 0; i < entries.length; ) {
      await slice.maybePause();
      // One frame at a time: the commit point is a frame's end, so a frame is taken whole or not at all.
      let j = i + 1;
      while (j < entries.length && entries[j]!.index > 0) j++;
      const frame: { pos: string; payload?: SpoolPayload; bytes: Buffer }[] = [];
      let n = 0;
      for (let k = i; k < j; k++) {
        const e = entries[k]!;
        // A record's position: its frame's end, and its place in the frame after the first.
        const pos = e.index === 0 ? `${e.end.seq}.${e.end.offset}` : `${e.end.seq}.${e.end.offset}.${e.index}`;
        try {
          const payload = decodeSpoolPayload(e.payload);
          n += payload.rows.length + payload.refused.length;
          frame.push({ pos, payload, bytes: e.payload });
        } catch {
          frame.push({ pos, bytes: e.payload });
        }
      }
      // Stop before the row budget, but always take one frame so an oversized one still moves.
      if (rows > 0 && rows + n > this.batchRows) {
        upTo = entries[i - 1]?.end ?? this.cursor;
        break;
      }
      rows += n;
      records += frame.length;
      for (const { pos, payload, bytes } of frame) {
        if (!payload) {
          this.o.logger.error({ position: pos, code: UNDECODABLE }, 'spool record is not a spool payload; dead-lettered');
          const token = `sp${pos}.${hash('sha256', bytes, 'hex').slice(0, 16)}`;
          await writeDeadLetters(this.o.warehouse, '', [{ messageId: '', row: bytes.toString('utf8') }], UNDECODABLE, token);
          this.deadLettered.undecodable += 1;
          continue;
        }
        let g = groups.get(payload.tenantId);
        if (!g) groups.set(payload.tenantId, (g = { rows: [], refused: [], positions: [] }));
        for (const r of payload.rows) g.rows.push(r);
        for (const r of payload.refused) g.refused.push(r);
        g.positions.push(pos);
      }
      i = j;
    }
    // Cut by a limit (not by the end of the spool): more is waiting. A cut by bytes just waits one interval.
    this.lastWasFull = upTo !== next || entries.length >= this.batchRows || rows >= this.batchRows;
    await this.writeGroups(groups, this.unverifiedRecords > 0 ? 'all' : 'client-ids', slice);
    if (upTo.seq !== this.cursor.seq || upTo.offset !== this.cursor.offset) {
      await this.o.spool.commit(upTo);
      this.cursor = upTo;
      this.unverifiedRecords = Math.max(0, this.unverifiedRecords - records);
    }
    return { rows, tenants: groups.size };
  }

  /**
   * Writes the cycle's tenant groups with as few INSERTs as the partition
   * limit allows (EventWriter.writeMany). Rows refused by the guard when they
   * were spooled are dead-lettered; groups with a line that fails the
   * insert-time check, and groups in a chunk ClickHouse refused as bad data,
   * go one tenant at a time through writeGroup, which finds and dead-letters
   * the offending rows.
   */
  private async writeGroups(groups: Map<string, Group>, lookup: 'all' | 'client-ids', slice: TimeSlice): Promise<void> {
    const clean: TenantBatch<InsertRow>[] = [];
    const alone: TenantBatch<InsertRow>[] = [];
    for (const [tenantId, g] of groups) {
      await slice.maybePause();
      const token = groupToken(g);
      if (g.refused.length > 0) this.parkRefused(tenantId, g.refused.length);
      await this.parkLetters(tenantId, g.refused, GUARD_VIOLATION, `${token}g`, 'guard_violation');
      const batch = { tenantId, rows: g.rows, token };
      const prefix = linePrefix(tenantId);
      (g.rows.every((r) => lineBoundTo(prefix, r)) ? clean : alone).push(batch);
    }
    if (clean.length > 0) {
      const r = await this.o.writer.writeMany(clean, { lookup, slice });
      this.rowsInserted += r.inserted;
      this.duplicatesSkipped += r.duplicates;
      for (const b of r.refused) alone.push(b as TenantBatch<InsertRow>);
    }
    for (const b of alone) await this.writeGroup(b.tenantId, [...b.rows], b.token);
  }

  private parkRefused(tenantId: string, rows: number): void {
    this.o.logger.error({ tenantId, rows, code: GUARD_VIOLATION }, 'rows failed the storage guard; dead-lettered');
    this.guardViolations += rows;
  }

  /**
   * Writes one tenant group. A data error is bisected down to the single rows
   * ClickHouse refuses, which are dead-lettered while their batch-mates land;
   * a guard violation dead-letters the rows that fail the guard and writes the rest.
   * Anything else propagates: the cycle fails and is retried from the cursor.
   */
  private async writeGroup(tenantId: string, rows: InsertRow[], token: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      const r = await this.o.writer.write(tenantId, rows, token);
      this.rowsInserted += r.inserted;
      this.duplicatesSkipped += r.duplicates;
    } catch (err) {
      if (err instanceof GuardViolation) {
        // The writer stops at the first bad row; sort them all out at once with the same check.
        const prefix = linePrefix(tenantId);
        const good: InsertRow[] = [];
        const bad: InsertRow[] = [];
        for (const r of rows) (lineBoundTo(prefix, r) ? good : bad).push(r);
        this.parkRefused(tenantId, bad.length);
        await this.park(tenantId, bad, GUARD_VIOLATION, `${token}g`, 'guard_violation');
        if (bad.length > 0) await this.writeGroup(tenantId, good, `${token}r`);
      } else if (err instanceof WarehouseError && err.kind === 'data') {
        if (rows.length === 1) {
          this.o.logger.warn({ tenantId, clickhouseCode: err.clickhouseCode, rows: 1 }, 'row refused by ClickHouse; dead-lettered');
          await this.park(tenantId, rows, err.message, `${token}d`, 'clickhouse_rejected');
          return;
        }
        const mid = rows.length >>> 1;
        await this.writeGroup(tenantId, rows.slice(0, mid), `${token}a`);
        await this.writeGroup(tenantId, rows.slice(mid), `${token}b`);
      } else {
        throw err;
      }
    }
  }

  private async park(tenantId: string, rows: InsertRow[], reason: string, token: string, kind: DeadLetterReason): Promise<void> {
    await this.parkLetters(tenantId, rows.map(letterOf), reason, token, kind);
  }

  private async parkLetters(tenantId: string, letters: DeadLetter[], reason: string, token: string, kind: DeadLetterReason): Promise<void> {
    if (letters.length === 0) return;
    await writeDeadLetters(this.o.warehouse, tenantId, letters, reason, token);
    this.deadLettered[kind] += letters.length;
  }
}

/** A spooled row as a dead letter: the row's JSON object, as on-call reads it. */
function letterOf(r: InsertRow): DeadLetter {
  return { messageId: r.messageId, row: lineAsObjectJson(r) };
}

function describe(err: unknown): string {
  if (err instanceof WarehouseError) return `WarehouseError ${err.kind}${err.clickhouseCode !== undefined ? ` code ${err.clickhouseCode}` : ''}`;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return `${err instanceof Error ? err.name : 'unknown error'}${typeof code === 'string' ? ` ${code}` : ''}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the promise's value, or 'timeout' at the deadline (the promise keeps running). */
async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
