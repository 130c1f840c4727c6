/**
 * Reading the audit log back: a tenant's own trail (always filtered by the
 * tenant id the caller is bound to), and the chain verification behind
 * `palisade audit verify`.
 */
import { isoFromClickHouse } from '../control/control-plane.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { ChainWalker, type Anchor, type AuditRow, type ChainProblem, type ChainReport } from './chain.ts';

export interface AuditEntry {
  nodeId: string;
  seq: number;
  at: string;
  actor: string;
  tenantId: string;
  action: string;
  target: string;
  outcome: string;
  clientIp: string;
  requestId: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

const COLUMNS = 'node_id, seq, at, actor, tenant_id, action, target, outcome, client_ip, request_id, details, prev_hash, hash';

function toRow(r: AuditRow & { seq: number | string }): AuditRow {
  return { ...r, seq: Number(r.seq) };
}

export function entryOf(r: AuditRow): AuditEntry {
  let details: Record<string, unknown> = {};
  try {
    details = JSON.parse(r.details) as Record<string, unknown>;
  } catch {
    details = { unparseable: true };
  }
  return {
    nodeId: r.node_id,
    seq: Number(r.seq),
    at: isoFromClickHouse(r.at),
    actor: r.actor,
    tenantId: r.tenant_id,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    clientIp: r.client_ip,
    requestId: r.request_id,
    details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface TrailPage {
  entries: AuditEntry[];
  /** Pass back as `after` for the next page; absent on the last page. */
  next?: string;
}

// The trail's times are DateTime64(3), which holds 1900-2299; the trail
// starts with the service (after 1970) and the default `until` is 2200, so a
// time outside [1970, 2200) is a mistake, not a wider window. Checked here:
// such a Date once reached the engine as "-000001-…" or "+275760-…" and
// answered 500.
const EARLIEST_MS = 0;
const LATEST_MS = Date.UTC(2200, 0, 1);

/**
 * `2026-01-01T00:00:00Z`, `2026-01-01`, or a relative `7d` / `12h` / `30m`
 * back from now; undefined (the caller's 400) for anything else, including a
 * time before 1970 or from 2200 on.
 */
export function parseSince(v: string | undefined, now = Date.now()): Date | undefined {
  if (v === undefined || v === '') return undefined;
  let t: number;
  const rel = /^(\d{1,6})([smhd])$/.exec(v);
  if (rel) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    t = now - Number(rel[1]) * unit;
  } else {
    t = v.length <= 40 ? Date.parse(v) : NaN;
  }
  return Number.isFinite(t) && t >= EARLIEST_MS && t < LATEST_MS ? new Date(t) : undefined;
}

function chTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * One tenant's entries in time order, a page at a time. The tenant id comes
 * from the caller's binding (the path an operator named, or the caller's own
 * query key), never from anything else in the request.
 */
export async function readTrail(
  wh: Warehouse,
  tenantId: string,
  o: { since?: Date; until?: Date; limit: number; after?: string },
): Promise<TrailPage> {
  const params: Record<string, unknown> = {
    t: tenantId,
    since: chTime(o.since ?? new Date(0)),
    until: chTime(o.until ?? new Date(Date.UTC(2200, 0, 1))),
    lim: o.limit + 1,
  };
  let cursor = '';
  const after = o.after ? decodeCursor(o.after) : undefined;
  if (o.after && !after) throw new AppError(ErrorCode.INVALID_CURSOR, "after: not a cursor this API returned as `next`; start again without it");
  if (after) {
    cursor = 'AND (at, node_id, seq) > ({aat:DateTime64(3)}, {anode:String}, {aseq:UInt64})';
    Object.assign(params, { aat: after.at, anode: after.node, aseq: after.seq });
  }
  const rows = await wh.query<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_log
     WHERE tenant_id = {t:String} AND at >= {since:DateTime64(3)} AND at < {until:DateTime64(3)} ${cursor}
     ORDER BY at, node_id, seq LIMIT {lim:UInt32}`,
    { params, timeoutMs: 30_000 },
  );
  const page = rows.slice(0, o.limit).map(toRow);
  const last = page[page.length - 1];
  return {
    entries: page.map(entryOf),
    ...(rows.length > o.limit && last ? { next: encodeCursor({ at: last.at, node: last.node_id, seq: last.seq }) } : {}),
  };
}

function encodeCursor(c: { at: string; node: string; seq: number }): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** A cursor's ClickHouse time that is a real instant in [1970, 2200) and prints back the same (no 2026-02-30). */
function validTrailTime(at: string): boolean {
  const t = Date.parse(`${at.replace(' ', 'T')}Z`);
  return Number.isFinite(t) && t >= EARLIEST_MS && t < LATEST_MS && chTime(new Date(t)) === at;
}

function decodeCursor(s: string): { at: string; node: string; seq: number } | undefined {
  if (s.length > 1_024) return undefined;
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { at: unknown; node: unknown; seq: unknown };
    if (typeof c.at === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/.test(c.at) && validTrailTime(c.at) && typeof c.node === 'string' && c.node.length <= 256 && Number.isSafeInteger(c.seq) && (c.seq as number) >= 0) {
      return { at: c.at, node: c.node, seq: c.seq as number };
    }
  } catch {
    /* fall through */
  }
  return undefined;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  chains: ChainReport[];
  /** The first entry found altered, removed or reordered, if any. */
  firstProblem?: ChainProblem;
}

// Rows per page while walking a chain: ~20k × ~400 bytes ≈ 8 MB at a time.
const PAGE = 20_000;

/** Where a walk stopped: the last row fed, so a later walk can go on from it (the chain monitor's incremental check). */
export interface WalkPosition {
  seq: number;
  hash: string;
}

/** Feeds `walker` the node's rows after `from` in chain order, a page at a time; returns the new position. */
export async function walkChain(wh: Warehouse, walker: ChainWalker, from: WalkPosition = { seq: 0, hash: '' }): Promise<WalkPosition> {
  let after = from;
  for (;;) {
    const rows = await wh.query<AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log WHERE node_id = {n:String} AND (seq, hash) > ({s:UInt64}, {h:String})
       ORDER BY seq, hash LIMIT {lim:UInt32}`,
      { params: { n: walker.nodeId, s: after.seq, h: after.hash, lim: PAGE }, timeoutMs: 60_000 },
    );
    for (const r of rows) walker.push(toRow(r));
    const last = rows[rows.length - 1];
    if (last) after = { seq: Number(last.seq), hash: last.hash };
    if (!last || rows.length < PAGE) return after;
  }
}

/** Walks every node's chain; `anchors` are the chain heads this node can vouch for. */
export async function verifyAudit(wh: Warehouse, anchors: Map<string, Anchor>): Promise<VerifyReport> {
  const nodes = await wh.query<{ node_id: string }>('SELECT DISTINCT node_id FROM audit_log ORDER BY node_id');
  const ids = [...new Set([...nodes.map((n) => n.node_id), ...anchors.keys()])].sort();
  const chains: ChainReport[] = [];
  for (const nodeId of ids) {
    const walker = new ChainWalker(nodeId);
    await walkChain(wh, walker);
    chains.push(walker.finish(anchors.get(nodeId)));
  }
  const firstProblem = chains.flatMap((c) => c.problems).sort((a, b) => (a.nodeId === b.nodeId ? a.seq - b.seq : 0))[0];
  return {
    ok: chains.every((c) => c.problems.length === 0),
    entries: chains.reduce((n, c) => n + c.entries, 0),
    chains,
    ...(firstProblem ? { firstProblem } : {}),
  };
}
