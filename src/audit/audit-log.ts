/**
 * The audit log writer. One writer per node: this process numbers its
 * entries (seq) and chains their hashes in memory, so two entries can never
 * race for a position. Several edges each keep their own chain, keyed by
 * PALISADE_NODE_ID; `palisade audit verify` walks every chain. Two processes
 * must never share a node id (their chains would fork; verify reports it as
 * entries claiming an existing position).
 *
 * Writes are batched: `record()` buffers and returns at once (auth failures,
 * ingestion and query lines, on the hot path), a timer writes a batch a
 * second, and `recordDurable()` waits until its entry is in ClickHouse (admin
 * actions, deletions, operator queries, which refuse to proceed or to return
 * data otherwise). A batch is hashed once and retried as is, with its last
 * hash as the insert deduplication token, so a retry after a timeout that
 * had in fact landed is dropped by the engine instead of forking the chain.
 *
 * After each batch the head (seq, hash) is written to an anchor file in the
 * node's data directory and, once a minute, to the technical log: removing
 * the newest rows from the table then no longer goes unnoticed.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { OneAtATime } from '../concurrency/one-at-a-time.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { AuthFailureAggregator, IngestAggregator, type AuthFailureNote } from './aggregate.ts';
import { canonicalDetails, entryHash, GENESIS, type Anchor, type AuditRow, type Outcome } from './chain.ts';

export interface AuditInput {
  actor: string;
  tenantId?: string;
  action: string;
  target?: string;
  outcome: Outcome;
  clientIp?: string;
  requestId?: string;
  details?: Record<string, unknown>;
  at?: Date;
}

export interface AuditLogOptions {
  warehouse: Warehouse;
  nodeId: string;
  logger: Logger;
  /** Where the anchor file lives (the node's data directory). */
  anchorDir: string;
  intervalMs?: number;
  now?: () => number;
}

interface Item {
  input: AuditInput;
  row?: AuditRow;
  done: boolean;
}

// Buffered entries waiting for ClickHouse; past this, non-durable entries are
// counted instead of kept (and the count itself is audited once writes resume).
const MAX_PENDING = 100_000;
const MAX_BATCH = 5_000;
const HEAD_LOG_EVERY_MS = 60_000;
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function field(s: string | undefined, max = 256): string {
  const v = s ?? '';
  return (v.length > max ? v.slice(0, max) : v).toWellFormed();
}

export function anchorFile(dir: string, nodeId: string): string {
  return path.join(dir, 'audit', `anchor-${nodeId}.json`);
}

export async function readAnchors(dir: string): Promise<Map<string, Anchor>> {
  const out = new Map<string, Anchor>();
  let names: string[] = [];
  try {
    names = await readdir(path.join(dir, 'audit'));
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^anchor-.+\.json$/.test(name)) continue;
    try {
      const a = JSON.parse(await readFile(path.join(dir, 'audit', name), 'utf8')) as Anchor;
      if (typeof a.nodeId === 'string' && Number.isInteger(a.seq) && typeof a.hash === 'string') out.set(a.nodeId, a);
    } catch {
      /* an unreadable anchor is reported by verify as missing */
    }
  }
  return out;
}

export class AuditLog {
  readonly nodeId: string;
  private pending: Item[] = [];
  private inflight: Item[] | null = null;
  private headSeq = 0;
  private headHash = GENESIS;
  private readonly batches = new OneAtATime();
  private timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private lastHeadLog = 0;
  private opened = false;
  private readonly auth: AuthFailureAggregator;
  private readonly ingest: IngestAggregator;
  private readonly now: () => number;

  constructor(private readonly o: AuditLogOptions) {
    if (!NODE_ID.test(o.nodeId)) throw new Error('audit node id must be 1-64 of A-Z a-z 0-9 _ . -');
    this.nodeId = o.nodeId;
    this.now = o.now ?? Date.now;
    this.auth = new AuthFailureAggregator(this.now);
    this.ingest = new IngestAggregator(this.now);
  }

  /** Reads this node's chain head from the table and checks it against the anchor file. */
  async open(): Promise<void> {
    const rows = await this.o.warehouse.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_log WHERE node_id = {n:String} ORDER BY seq DESC LIMIT 1',
      { params: { n: this.nodeId } },
    );
    const top = rows[0];
    this.headSeq = top ? Number(top.seq) : 0;
    this.headHash = top?.hash ?? GENESIS;
    this.opened = true;
    const anchor = (await readAnchors(this.o.anchorDir)).get(this.nodeId);
    if (!anchor) return;
    let agrees = anchor.seq === this.headSeq && anchor.hash === this.headHash;
    if (anchor.seq < this.headSeq) {
      // The anchor lags when the process died between an insert and the anchor write.
      const at = await this.o.warehouse.query<{ hash: string }>(
        'SELECT hash FROM audit_log WHERE node_id = {n:String} AND seq = {s:UInt64}',
        { params: { n: this.nodeId, s: anchor.seq } },
      );
      agrees = at.length === 1 && at[0]?.hash === anchor.hash;
    }
    if (!agrees) {
      const details = { anchorSeq: anchor.seq, anchorHash: anchor.hash, tableSeq: this.headSeq, tableHash: this.headHash };
      this.o.logger.error({ nodeId: this.nodeId, ...details }, 'audit chain does not match its anchor: entries were removed or altered while the server was stopped');
      // Written before the server serves: from here on the chain itself carries the evidence.
      await this.recordDurable({ actor: 'system', action: 'audit.anchor_mismatch', outcome: 'failed', details });
    }
  }

  head(): { seq: number; hash: string } {
    return { seq: this.headSeq, hash: this.headHash };
  }

  record(input: AuditInput): void {
    if (this.pending.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pending.push({ input, done: false });
  }

  /** Resolves once the entry is in ClickHouse; rejects (503) when it cannot be written now. */
  async recordDurable(input: AuditInput): Promise<AuditRow> {
    const item: Item = { input, done: false };
    this.pending.push(item);
    try {
      await this.flush();
    } catch (err) {
      throw new AppError(ErrorCode.UNAVAILABLE, 'the audit log cannot be written right now; nothing that needs an audit entry can proceed', { cause: err, retryAfter: 5 });
    }
    if (!item.done || !item.row) throw new AppError(ErrorCode.UNAVAILABLE, 'the audit log cannot be written right now', { retryAfter: 5 });
    return item.row;
  }

  noteAuthFailure(n: AuthFailureNote): void {
    this.auth.note(n);
  }

  noteIngested(n: { keyId: string; tenantId: string; ip: string; events: number }): void {
    this.ingest.note(n);
  }

  /** The ingest route's hook, once per accepted request: a Map update, nothing more (it runs on the request lane). */
  readonly acceptedEvents = (who: { keyId: string; tenantId: string }, ip: string, events: number): void => {
    this.ingest.note({ keyId: who.keyId, tenantId: who.tenantId, ip, events });
  };

  start(): void {
    this.timer = setInterval(() => {
      this.tick().catch((err: Error) => this.o.logger.warn({ errName: err.name }, 'audit log not written yet; will retry'));
    }, this.o.intervalMs ?? 1_000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    for (const e of [...this.auth.drain(), ...this.ingest.drain()]) this.record(e);
    if (this.pending.length > 0 || this.inflight) await this.flush();
  }

  /** Writes everything still buffered, including the current minute's aggregates. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const e of [...this.auth.drain(true), ...this.ingest.drain(true)]) this.record(e);
    await this.flush();
  }

  flush(): Promise<void> {
    return this.batches.run(() => this.flushAll());
  }

  private async flushAll(): Promise<void> {
    // Before open() the head is unknown: writing would fork the chain at seq 1.
    if (!this.opened) throw new Error('audit log not open');
    while (this.inflight || this.pending.length > 0) {
      if (!this.inflight) this.inflight = this.seal(this.pending.splice(0, MAX_BATCH));
      await this.insert(this.inflight);
      const last = this.inflight[this.inflight.length - 1]?.row;
      for (const item of this.inflight) item.done = true;
      this.inflight = null;
      if (last) {
        this.headSeq = last.seq;
        this.headHash = last.hash;
        await this.writeAnchor();
      }
      if (this.dropped > 0) {
        this.pending.push({ input: { actor: 'system', action: 'audit.dropped', outcome: 'failed', details: { count: this.dropped } }, done: false });
        this.dropped = 0;
      }
    }
  }

  /** Numbers and chains a batch from the current head; from here on it is written exactly as is. */
  private seal(items: Item[]): Item[] {
    let seq = this.headSeq;
    let prev = this.headHash;
    for (const item of items) {
      const i = item.input;
      const base = {
        node_id: this.nodeId,
        seq: ++seq,
        at: toClickHouseTime(i.at ?? new Date(this.now())),
        actor: field(i.actor),
        tenant_id: field(i.tenantId, 64),
        action: field(i.action, 64),
        target: field(i.target),
        outcome: i.outcome,
        client_ip: field(i.clientIp, 64),
        request_id: field(i.requestId, 64),
        details: canonicalDetails(i.details),
      };
      const hash = entryHash(prev, base);
      item.row = { ...base, prev_hash: prev, hash };
      prev = hash;
    }
    return items;
  }

  private async insert(items: Item[]): Promise<void> {
    const rows = items.map((i) => i.row as AuditRow);
    const last = rows[rows.length - 1];
    if (!last) return;
    await this.o.warehouse.insertJson('audit_log', Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n')), {
      settings: { insert_deduplication_token: `audit.${this.nodeId}.${last.hash}` },
      timeoutMs: 10_000,
    });
  }

  private async writeAnchor(): Promise<void> {
    const file = anchorFile(this.o.anchorDir, this.nodeId);
    const anchor: Anchor = { nodeId: this.nodeId, seq: this.headSeq, hash: this.headHash };
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(`${file}.tmp`, JSON.stringify(anchor) + '\n', { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    } catch (err) {
      this.o.logger.warn({ errName: (err as Error).name }, 'audit anchor not written');
    }
    if (this.now() - this.lastHeadLog >= HEAD_LOG_EVERY_MS) {
      this.lastHeadLog = this.now();
      // A copy of the head in the log pipeline, outside this machine's reach.
      this.o.logger.info({ auditNode: this.nodeId, auditSeq: this.headSeq, auditHash: this.headHash }, 'audit chain head');
    }
  }
}
