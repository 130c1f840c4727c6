/**
 * The audit log's hash chain, as pure functions. An entry's hash is
 *   SHA-256(prev_hash ‖ "\n" ‖ canonical entry)
 * where the canonical entry is a JSON array of every stored field in a fixed
 * order, with `details` already in canonical form (keys sorted, no spaces).
 * Every field is stored exactly as it is hashed (times as ClickHouse's
 * `YYYY-MM-DD hh:mm:ss.sss` text), so a row read back hashes to the same value.
 */
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);
const FORMAT = 'palisade-audit-v1';

export type DetailValue = string | number | boolean | null | readonly (string | number | boolean)[];
export type Details = Record<string, DetailValue>;

export type Outcome = 'ok' | 'denied' | 'failed' | 'refused';

/** One stored row of audit_log (snake_case, as ClickHouse returns it). */
export interface AuditRow {
  node_id: string;
  seq: number;
  at: string;
  actor: string;
  tenant_id: string;
  action: string;
  target: string;
  outcome: string;
  client_ip: string;
  request_id: string;
  details: string;
  prev_hash: string;
  hash: string;
}

const MAX_DETAILS_BYTES = 2048;
const MAX_STRING = 256;
const MAX_ARRAY = 50;
// Details are for ids, counts and reasons. A field named like a secret is
// dropped, whatever its value, so a careless caller cannot leak one here.
const SECRET_NAME = /secret|token|password|authorization|cookie|key_hex|payload|properties|traits/i;
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Cut, and well-formed: a lone surrogate would not survive the UTF-8 round trip through ClickHouse, and then the hash would not either. */
function clip(s: string): string {
  return (s.length > MAX_STRING ? s.slice(0, MAX_STRING) : s).toWellFormed();
}

function scalar(v: unknown): string | number | boolean | null | undefined {
  if (v === null) return null;
  if (typeof v === 'string') return clip(v);
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  return undefined;
}

/** Keeps only small, safe fields; sorts keys so the text is canonical. */
export function canonicalDetails(details: Record<string, unknown> | undefined): string {
  const out: Record<string, DetailValue> = {};
  for (const name of Object.keys(details ?? {}).sort()) {
    if (!NAME.test(name) || SECRET_NAME.test(name)) continue;
    const v = (details as Record<string, unknown>)[name];
    if (Array.isArray(v)) {
      const items = v.slice(0, MAX_ARRAY).map(scalar).filter((x): x is string | number | boolean => x !== undefined && x !== null);
      out[name] = items;
      continue;
    }
    const s = scalar(v);
    if (s !== undefined) out[name] = s;
  }
  let text = JSON.stringify(out);
  // Past the cap the details are cut to a marker rather than half an object.
  if (Buffer.byteLength(text) > MAX_DETAILS_BYTES) text = JSON.stringify({ truncated: true });
  return text;
}

export function canonicalEntry(r: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return JSON.stringify([
    FORMAT,
    r.node_id,
    r.seq,
    r.at,
    r.actor,
    r.tenant_id,
    r.action,
    r.target,
    r.outcome,
    r.client_ip,
    r.request_id,
    r.details,
  ]);
}

export function entryHash(prevHash: string, r: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalEntry(r)).digest('hex');
}

export type ProblemKind = 'altered' | 'removed' | 'reordered' | 'inserted' | 'truncated';

export interface ChainProblem {
  nodeId: string;
  kind: ProblemKind;
  /** The seq of the entry named (for `removed`, the first missing seq). */
  seq: number;
  message: string;
  entry?: { seq: number; at: string; action: string; actor: string; tenantId: string };
}

export interface Anchor {
  nodeId: string;
  seq: number;
  hash: string;
}

export interface ChainReport {
  nodeId: string;
  entries: number;
  head: { seq: number; hash: string } | null;
  /** The first problems found (at most 20)… */
  problems: ChainProblem[];
  /** …out of this many. */
  problemCount: number;
}

// An intact entry moved to another position still hashes with its original
// seq; trying nearby seqs tells "reordered" from "altered".
const REORDER_WINDOW = 1000;

function summary(r: AuditRow): NonNullable<ChainProblem['entry']> {
  return { seq: r.seq, at: r.at, action: r.action, actor: r.actor, tenantId: r.tenant_id };
}

function originalSeq(r: AuditRow): number | undefined {
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const k of [r.seq - d, r.seq + d]) {
      if (k >= 1 && entryHash(r.prev_hash, { ...r, seq: k }) === r.hash) return k;
    }
  }
  return undefined;
}

/**
 * Walks one node's chain in seq order and reports what breaks it, first
 * problem first. Stateful so a caller can feed rows page by page.
 */
export class ChainWalker {
  private expectedSeq = 1;
  private prevHash = GENESIS;
  private count = 0;
  private last: AuditRow | undefined;
  private problemCount = 0;
  readonly problems: ChainProblem[] = [];

  constructor(readonly nodeId: string, private readonly maxProblems = 20) {}

  private add(p: Omit<ChainProblem, 'nodeId'>): void {
    this.problemCount++;
    if (this.problems.length < this.maxProblems) this.problems.push({ nodeId: this.nodeId, ...p });
  }

  push(r: AuditRow): void {
    this.count++;
    const seq = r.seq;
    const intact = entryHash(r.prev_hash, r) === r.hash;
    if (!intact) {
      // The search costs up to 2,000 hashes: only while problems are still being reported.
      const was = this.problems.length < this.maxProblems ? originalSeq(r) : undefined;
      if (was !== undefined) {
        this.add({ kind: 'reordered', seq, entry: summary(r), message: `entry at position ${seq} (${r.action}) is entry ${was} moved out of order` });
      } else {
        this.add({ kind: 'altered', seq, entry: summary(r), message: `entry ${seq} (${r.action}, ${r.at}) was altered: its content no longer matches its hash` });
      }
    } else if (seq < this.expectedSeq) {
      this.add({ kind: 'inserted', seq, entry: summary(r), message: `entry ${seq} (${r.action}) appears twice: a second row claims an existing position` });
    } else if (seq > this.expectedSeq) {
      const range = seq - 1 === this.expectedSeq ? `entry ${this.expectedSeq} is` : `entries ${this.expectedSeq}–${seq - 1} are`;
      this.add({ kind: 'removed', seq: this.expectedSeq, entry: summary(r), message: `${range} missing (removed); the chain resumes at entry ${seq}` });
    } else if (r.prev_hash !== this.prevHash) {
      // Entry seq-1 hashes fine on its own but is not the entry this one was
      // chained to: it was rewritten with a recomputed hash (or this one forged).
      this.add({
        kind: 'altered',
        seq: seq - 1,
        entry: this.last ? summary(this.last) : undefined,
        message: `entry ${seq - 1} was altered and its hash recomputed: entry ${seq} still points to the original`,
      });
    }
    if (intact && r.action === 'audit.anchor_mismatch') this.anchorMismatch(r);
    if (seq >= this.expectedSeq) {
      this.expectedSeq = seq + 1;
      this.prevHash = r.hash;
      this.last = r;
    }
  }

  /**
   * A node that found, at start, fewer entries than its anchor recorded says
   * so in its own chain (and carries on, to keep serving): the removal stays
   * visible here even after the anchor has moved on.
   */
  private anchorMismatch(r: AuditRow): void {
    let d: { anchorSeq?: unknown; tableSeq?: unknown } = {};
    try {
      d = JSON.parse(r.details) as typeof d;
    } catch {
      /* reported generically below */
    }
    const anchorSeq = Number(d.anchorSeq);
    const tableSeq = Number(d.tableSeq);
    const removed = Number.isInteger(anchorSeq) && Number.isInteger(tableSeq) && anchorSeq > tableSeq;
    this.add({
      kind: 'truncated',
      seq: removed ? tableSeq + 1 : r.seq,
      entry: summary(r),
      message: removed
        ? `entries ${tableSeq + 1}–${anchorSeq} were removed while the server was stopped (entry ${r.seq}, written at the next start, records the anchor's head ${anchorSeq} against the table's ${tableSeq})`
        : `entry ${r.seq} records that, at start, the table's entry at the anchor's position was not the one the anchor recorded`,
    });
  }

  /** Compares the end of the chain with the head the node recorded outside the table. */
  finish(anchor?: Anchor): ChainReport {
    const head = this.last ? { seq: this.last.seq, hash: this.last.hash } : null;
    if (anchor) {
      const headSeq = head?.seq ?? 0;
      if (anchor.seq > headSeq) {
        this.add({
          kind: 'truncated',
          seq: headSeq + 1,
          message: `entries ${headSeq + 1}–${anchor.seq} were removed from the end: this node's anchor records entry ${anchor.seq}, the table ends at ${headSeq}`,
        });
      } else if (anchor.seq === headSeq && head && anchor.hash !== head.hash) {
        this.add({ kind: 'altered', seq: headSeq, message: `the last entry ${headSeq} differs from the one this node's anchor recorded` });
      }
    }
    return { nodeId: this.nodeId, entries: this.count, head, problems: this.problems, problemCount: this.problemCount };
  }
}
