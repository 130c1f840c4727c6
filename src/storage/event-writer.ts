/**
 * The only code that writes events into ClickHouse, and the storage guard.
 * The guard checks, independently of the ingest pipeline, that every row
 * belongs to the tenant the batch is written for and that the columns the
 * table and the dedup logic rely on are well-formed. It runs once per row:
 * `toInsertRow` guards a row and turns it into the exact line its INSERT
 * sends, JSONCompactEachRow in EVENT_COLUMNS order (the spool stores that
 * line, so nothing is parsed or encoded again between acknowledgement and
 * ClickHouse), and right before an INSERT
 * the writer checks each line's bytes are bound to the batch tenant (a prefix
 * compare, no parse). A row that fails is a bug upstream: the batch is refused
 * with a GuardViolation (logged and alerted by the caller), never written.
 */
import { hash } from 'node:crypto';
import { CLICKHOUSE_TIME_RE, EVENT_TYPES, type EventRow } from '../../schemas/event-row.ts';
import { TENANT_ID } from '../../schemas/tenant-id.ts';
import type { TimeSlice } from '../concurrency/time-slice.ts';
import { WarehouseError, type Warehouse } from './warehouse.ts';

export class GuardViolation extends Error {
  override name = 'GuardViolation';
  constructor(
    message: string,
    readonly tenantId: string,
    readonly rowIndex: number,
  ) {
    super(message);
  }
}

const TYPES = new Set<string>(EVENT_TYPES);

const MAX_ID = 256;

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why a row fails the storage guard for `tenantId`, or null when it passes. Allocates nothing when it passes. */
export function guardFailure(tenantId: string, row: EventRow): string | null {
  if (row.tenant_id !== tenantId) return 'tenant_id differs from the batch tenant';
  if (typeof row.message_id !== 'string' || row.message_id.length === 0 || row.message_id.length > MAX_ID) return 'message_id malformed';
  if (!TYPES.has(row.type)) return 'type is not an event type';
  if (typeof row.timestamp !== 'string' || !CLICKHOUSE_TIME_RE.test(row.timestamp)) return 'timestamp malformed';
  if (typeof row.received_at !== 'string' || !CLICKHOUSE_TIME_RE.test(row.received_at)) return 'received_at malformed';
  if (row.sent_at !== null && (typeof row.sent_at !== 'string' || !CLICKHOUSE_TIME_RE.test(row.sent_at))) return 'sent_at malformed';
  if (row.original_timestamp !== null && (typeof row.original_timestamp !== 'string' || !CLICKHOUSE_TIME_RE.test(row.original_timestamp))) {
    return 'original_timestamp malformed';
  }
  if (!isPlainObject(row.properties) || !isPlainObject(row.traits) || !isPlainObject(row.context)) return 'JSON columns must be objects';
  // One check per column, not a loop over names: a keyed read with a changing name is a slow megamorphic load.
  if (typeof row.event !== 'string') return 'event must be a string';
  if (typeof row.user_id !== 'string') return 'user_id must be a string';
  if (typeof row.anonymous_id !== 'string') return 'anonymous_id must be a string';
  if (typeof row.group_id !== 'string') return 'group_id must be a string';
  if (typeof row.previous_id !== 'string') return 'previous_id must be a string';
  if (typeof row.ip !== 'string') return 'ip must be a string';
  if (typeof row.user_agent !== 'string') return 'user_agent must be a string';
  if (typeof row.key_id !== 'string') return 'key_id must be a string';
  if (row.is_bot !== undefined && row.is_bot !== 0 && row.is_bot !== 1) return 'is_bot must be 0 or 1';
  return null;
}

export function checkTenantId(tenantId: string): void {
  if (!TENANT_ID.test(tenantId)) throw new GuardViolation('batch tenant id is malformed', tenantId, -1);
}

export function guardRows(tenantId: string, rows: readonly EventRow[]): void {
  checkTenantId(tenantId);
  rows.forEach((row, i) => {
    const why = guardFailure(tenantId, row);
    if (why !== null) throw new GuardViolation(`row ${i}: ${why}`, tenantId, i);
  });
}

/**
 * The events table's columns in the order of a compact line's values.
 * tenant_id comes first, so the byte check of a line's tenant is a prefix
 * compare. A row written before migration 0007 has no is_bot: it is 0 then,
 * the column's default.
 */
export const EVENT_COLUMNS = [
  'tenant_id', 'message_id', 'type', 'event', 'user_id', 'anonymous_id', 'group_id', 'previous_id',
  'timestamp', 'original_timestamp', 'sent_at', 'received_at', 'properties', 'traits', 'context',
  'ip', 'user_agent', 'key_id', 'is_bot',
] as const satisfies readonly (keyof EventRow)[];

/**
 * A row's JSONCompactEachRow line with its newline: its values in
 * EVENT_COLUMNS order. Half the bytes of the JSONEachRow object (no names),
 * ~0.4 µs less to make and ~1.4 µs less for the engine to parse, a row.
 * Written out, not a loop over the names: a keyed read with a changing name
 * is a slow megamorphic load.
 */
export function compactLine(r: EventRow): string {
  return (
    JSON.stringify([
      r.tenant_id, r.message_id, r.type, r.event, r.user_id, r.anonymous_id, r.group_id, r.previous_id,
      r.timestamp, r.original_timestamp, r.sent_at, r.received_at, r.properties, r.traits, r.context,
      r.ip, r.user_agent, r.key_id, r.is_bot ?? 0,
    ]) + '\n'
  );
}

/** A row's line (without its newline) as the JSON object of the row, as a dead letter shows it. */
export function lineAsObjectJson(r: Pick<InsertRow, 'line' | 'compact'>): string {
  const end = r.line[r.line.length - 1] === NEWLINE ? r.line.length - 1 : r.line.length;
  const text = r.line.toString('utf8', 0, end);
  if (!r.compact) return text;
  try {
    const values = JSON.parse(text) as unknown[];
    return JSON.stringify(Object.fromEntries(EVENT_COLUMNS.map((c, i) => [c, values[i]])));
  } catch {
    return text;
  }
}

/**
 * A guarded row as its INSERT needs it: the line (with its newline), the
 * message id the dedup logic works on, and the partition month.
 */
export interface InsertRow {
  /** The tenant the line was encoded for (the writer checks it against the batch, and the bytes against both). */
  tenantId: string;
  messageId: string;
  /** The row's `timestamp` column (ClickHouse time text): its first 7 characters are the month of its partition. */
  timestamp: string;
  line: Buffer;
  /**
   * The line is JSONCompactEachRow in EVENT_COLUMNS order; otherwise a
   * JSONEachRow object, as spools written before payload format 3 hold.
   */
  compact: boolean;
  /**
   * The id was generated by this server (the client sent none), so no client
   * retry can repeat it: only a replay of the same spool records can, and the
   * engine's insert_deduplication_token drops that one.
   */
  generatedId: boolean;
}

/** The compact line of a row: the guard runs here, once per row; throws GuardViolation. */
export function toInsertRow(tenantId: string, row: EventRow, generatedId = false, index = 0): InsertRow {
  const why = guardFailure(tenantId, row);
  if (why !== null) throw new GuardViolation(`row ${index}: ${why}`, tenantId, index);
  return { tenantId, messageId: row.message_id, timestamp: row.timestamp, line: Buffer.from(compactLine(row)), compact: true, generatedId };
}

/** How every line of a row of this tenant starts, compact (`["<tenant>","`) and as an object (`{"tenant_id":"<tenant>","message_id":`). */
export interface LinePrefix {
  compact: Buffer;
  object: Buffer;
}

export function linePrefix(tenantId: string): LinePrefix {
  const id = JSON.stringify(tenantId);
  return { compact: Buffer.from(`[${id},"`), object: Buffer.from(`{"tenant_id":${id},"message_id":`) };
}

const NEWLINE = 0x0a;

/**
 * The insert-time half of the guard, on the bytes themselves: the line is one
 * JSON array or object (a newline only at its end, so it cannot smuggle a
 * second row) whose tenant is the batch tenant. A compact line's tenant is
 * its first value by position; an object line's is its first field, and
 * ClickHouse refuses a row that names a field twice, so a later "tenant_id"
 * cannot override it.
 */
export function lineBoundTo(prefix: LinePrefix, r: Pick<InsertRow, 'line' | 'compact'>): boolean {
  const p = r.compact ? prefix.compact : prefix.object;
  const line = r.line;
  return (
    line.length > p.length + 2 &&
    p.compare(line, 0, p.length) === 0 &&
    line.indexOf(NEWLINE) === line.length - 1 &&
    line[line.length - 2] === (r.compact ? 0x5d /* ']' */ : 0x7d) /* '}' */
  );
}

export interface WriteResult {
  inserted: number;
  /** Rows whose message_id the tenant already had (a retry or a spool replay). */
  duplicates: number;
  /** INSERT statements issued (one per chunk of at most MAX_PARTITIONS_PER_INSERT months). */
  inserts: number;
}

/**
 * Partitions (tenant × month) one INSERT may touch. ClickHouse refuses a block
 * over max_partitions_per_insert_block (100 by default) with TOO_MANY_PARTS,
 * a code that also means "merges are behind, retry later", so a backfill
 * spanning nine years would be retried forever and stall the spool. A batch is
 * one tenant, so this is a number of distinct months.
 */
export const MAX_PARTITIONS_PER_INSERT = 100;
/**
 * The most message ids one existence lookup carries. Each lookup scans the
 * tenant's rows in the batch's time window once, whatever it carries, so a
 * flush is cheapest in as few lookups as possible: against a 200,000-event
 * day in chDB here, 10,000 ids cost the engine ~65 ms of CPU in one lookup and
 * ~210 ms in ten of 1,000 (the ids themselves cost ~4.5 µs each either way).
 * A flush reads at most 10,000 rows (src/spool/flusher.ts).
 */
export const LOOKUP_MAX_IDS = 10_000;
/**
 * What one lookup's ids may take of the URL on the server path, where bound
 * parameters travel in it: a ClickHouse server refuses a URL over
 * http_max_uri_size (1 MiB by default), so a lookup stays under 768 KiB of it.
 */
export const LOOKUP_URL_BUDGET = 768 * 1024;
const URL_PLAIN = /^[A-Za-z0-9._-]*$/;

/**
 * The most characters `id` takes as an element of a bound Array(String) in a
 * URL: its quotes and comma percent-encoded (9), and each byte as itself when
 * the id is URL-plain, else at worst 6 (a quote or backslash is escaped with a
 * backslash, and both bytes are percent-encoded).
 */
export function lookupUrlCost(id: string): number {
  return 9 + (URL_PLAIN.test(id) ? id.length : Buffer.byteLength(id) * 6);
}

/** Consecutive slices of `rows`, each within LOOKUP_MAX_IDS ids and LOOKUP_URL_BUDGET (one row at least). */
export function lookupSlices<R extends { messageId: string }>(rows: readonly R[], maxIds = LOOKUP_MAX_IDS, urlBudget = LOOKUP_URL_BUDGET): R[][] {
  const out: R[][] = [];
  let current: R[] = [];
  let cost = 0;
  for (const r of rows) {
    const c = lookupUrlCost(r.messageId);
    if (current.length > 0 && (current.length >= maxIds || cost + c > urlBudget)) {
      out.push(current);
      current = [];
      cost = 0;
    }
    current.push(r);
    cost += c;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function sha256(...parts: string[]): string {
  let text = '';
  for (const p of parts) text += p + '\n';
  return hash('sha256', text, 'hex');
}

/** One tenant's rows for one write, and the token that names them (e.g. their spool positions). */
export interface TenantBatch<R extends EventRow | InsertRow = EventRow | InsertRow> {
  tenantId: string;
  /** Rows as the pipeline made them (guarded here), or as the spool holds them (guarded when encoded). */
  rows: readonly R[];
  token: string;
}

interface Chunk<R> {
  rows: R[];
  tenants: string[];
  tokens: string[];
}

function isInsertRow(r: EventRow | InsertRow): r is InsertRow {
  return 'line' in r;
}

function monthOf(r: EventRow | InsertRow): string {
  return r.timestamp.slice(0, 7);
}

/**
 * Packs the batches' rows into INSERT chunks of at most `maxPartitions`
 * (tenant, month) partitions, in batch order then month order, so the same
 * batches always pack the same way (a replay sends the same chunks).
 */
export function packPartitions<R extends EventRow | InsertRow>(batches: readonly TenantBatch<R>[], maxPartitions = MAX_PARTITIONS_PER_INSERT): Chunk<R>[] {
  const chunks: Chunk<R>[] = [];
  let current: Chunk<R> | undefined;
  let partitions = 0;
  for (const b of batches) {
    const byMonth = new Map<string, R[]>();
    for (const r of b.rows) {
      const month = monthOf(r);
      const list = byMonth.get(month);
      if (list) list.push(r);
      else byMonth.set(month, [r]);
    }
    for (const month of [...byMonth.keys()].sort()) {
      if (!current || partitions >= maxPartitions) {
        current = { rows: [], tenants: [], tokens: [] };
        chunks.push(current);
        partitions = 0;
      }
      if (current.tenants.at(-1) !== b.tenantId) {
        current.tenants.push(b.tenantId);
        current.tokens.push(b.token);
      }
      for (const r of byMonth.get(month) ?? []) current.rows.push(r);
      partitions += 1;
    }
  }
  return chunks;
}

/** One tenant's rows split into chunks of at most `maxMonths` distinct months, months in order. */
export function chunkByMonth<R extends EventRow | InsertRow>(rows: readonly R[], maxMonths = MAX_PARTITIONS_PER_INSERT): R[][] {
  return packPartitions([{ tenantId: '', rows, token: '' }], maxMonths).map((c) => c.rows);
}

export interface ManyResult extends WriteResult {
  /** Batches in a chunk ClickHouse refused as bad data: the caller writes them one tenant at a time to find the row. */
  refused: TenantBatch[];
}

export interface WriteOptions {
  /**
   * Which rows are looked up in `events` before the INSERT: 'all', or only
   * those whose id a client chose ('client-ids'). A server-generated id can
   * only come back through a replay of the same spool records, which the
   * caller sends with the same token (the engine drops it); the flusher asks
   * for 'all' whenever that may not hold (records a previous process may have
   * inserted, a cycle after a failure).
   */
  lookup?: 'all' | 'client-ids';
  /** Pause between steps when this slice is due (the flusher's: its cycle shares the request thread). */
  slice?: TimeSlice;
}

// Rows checked or de-duplicated between two looks at the slice.
const ROWS_PER_SLICE_CHECK = 1024;

export class EventWriter {
  constructor(private readonly wh: Warehouse) {}

  /**
   * Inserts one tenant's rows, skipping message_ids already stored for that
   * tenant. `dedupToken` identifies this exact batch (e.g. its spool
   * position) so a replay of the same INSERT after a crash is dropped by the
   * engine even if it raced the existence check. A data error propagates.
   */
  async write(tenantId: string, rows: readonly (EventRow | InsertRow)[], dedupToken?: string): Promise<WriteResult> {
    const token = dedupToken ?? sha256(...rows.map((r) => (isInsertRow(r) ? r.messageId : r.message_id)));
    const { refused: _, ...r } = await this.insert([{ tenantId, rows, token }], false, 'all');
    return r;
  }

  /**
   * Inserts many tenants' rows with as few statements as ClickHouse allows:
   * each INSERT carries up to MAX_PARTITIONS_PER_INSERT (tenant, month)
   * partitions, so a cycle with a thousand active tenants is tens of
   * statements, not thousands (an INSERT costs ~6 ms plus ~6 ms per part
   * here; one per tenant took 86 s to drain 3,000 requests of 1,000 tenants).
   * Every row is still checked against its own batch's tenant before anything
   * is written, and parts stay per tenant: the table is partitioned by tenant.
   */
  async writeMany(batches: readonly TenantBatch[], o: WriteOptions = {}): Promise<ManyResult> {
    return await this.insert(batches, true, o.lookup ?? 'all', o.slice);
  }

  /**
   * Each chunk's token hashes the batches' tokens and the message_ids the
   * chunk carries: a replay that finds part of its rows already stored (a
   * crash between two chunks, or between the parts of one multi-partition
   * INSERT) sends a different set of rows, and reusing the token would make
   * the engine drop them as duplicates.
   */
  private async insert(batches: readonly TenantBatch[], collectRefused: boolean, lookup: 'all' | 'client-ids', slice?: TimeSlice): Promise<ManyResult> {
    // The guard, once per row: rows from the pipeline here; spooled rows were guarded when encoded,
    // and only their tenant binding is re-checked on the bytes (no parse).
    const unique: TenantBatch<TenantRow>[] = [];
    for (const b of batches) {
      const rows = await guardBatch(b, slice);
      const seen = new Map<string, TenantRow>();
      for (let i = 0; i < rows.length; i++) {
        if (i % ROWS_PER_SLICE_CHECK === 0) await slice?.maybePause();
        const row = rows[i]!;
        if (!seen.has(row.messageId)) seen.set(row.messageId, row);
      }
      unique.push({ tenantId: b.tenantId, token: b.token, rows: seen.size === rows.length ? rows : [...seen.values()] });
    }
    const total = batches.reduce((n, b) => n + b.rows.length, 0);
    let inserted = 0;
    let inserts = 0;
    const refused = new Set<string>();
    for (const chunk of packPartitions(unique)) {
      await slice?.maybePause();
      // A tenant already refused is rewritten whole, one tenant at a time, by the caller:
      // so is everyone sharing a chunk with it (rows that landed are skipped then).
      if (chunk.tenants.some((t) => refused.has(t))) {
        for (const t of chunk.tenants) refused.add(t);
        continue;
      }
      const needsLookup = lookup === 'all' || chunk.rows.some((r) => !r.generatedId);
      const existing = needsLookup ? await this.existing(chunk) : undefined;
      const fresh = existing ? chunk.rows.filter((r) => !existing.has(`${r.tenantId}\n${r.messageId}`)) : chunk.rows;
      if (fresh.length === 0) continue;
      // Spools written before payload format 3 hold JSONEachRow object lines: right after an
      // upgrade a chunk can carry both kinds, and each kind goes in an INSERT of its own.
      const first = fresh[0]!.compact;
      const parts = fresh.every((r) => r.compact === first) ? [fresh] : [fresh.filter((r) => r.compact), fresh.filter((r) => !r.compact)];
      const tenantPart = chunk.tenants.length === 1 ? `${chunk.tenants[0]}:` : 'm:';
      for (const part of parts) {
        if (!(await this.insertPart(part, chunk.tokens, tenantPart, collectRefused))) {
          for (const t of chunk.tenants) refused.add(t);
          break;
        }
        inserted += part.length;
        inserts += 1;
      }
    }
    const back = batches.filter((b) => refused.has(b.tenantId));
    const refusedRows = back.reduce((n, b) => n + b.rows.length, 0);
    return { inserted, duplicates: total - refusedRows - inserted, inserts, refused: back };
  }

  /** One INSERT of rows whose lines are of one kind; false when ClickHouse refused the data and the caller collects refusals. */
  private async insertPart(part: readonly TenantRow[], tokens: readonly string[], tenantPart: string, collectRefused: boolean): Promise<boolean> {
    const payload = Buffer.concat(part.map((r) => r.line));
    const token = chunkToken(tokens, part);
    try {
      await this.wh.insertJson('events', payload, {
        ...(part[0]?.compact ? { format: 'JSONCompactEachRow', columns: EVENT_COLUMNS } : {}),
        settings: {
          insert_deduplication_token: `${tenantPart}${token}`.replace(/[^A-Za-z0-9_.\-]/g, '_'),
          // Each batch's rows are de-duplicated by message id above (and the flusher sends
          // one batch per tenant), so no two rows of an INSERT share a sorting key:
          // ReplacingMergeTree's pass that folds such rows within the block finds nothing.
          // Skipping it takes ~1 µs a row (~15 %) off the engine's side of the INSERT; rows
          // that did collide would still be folded by merges, as rows of two INSERTs are.
          optimize_on_insert: 0,
        },
      });
    } catch (err) {
      if (!collectRefused || !(err instanceof WarehouseError) || err.kind !== 'data') throw err;
      return false;
    }
    return true;
  }

  /** `tenant\nmessage_id` of the chunk's rows already stored. */
  private async existing(chunk: Chunk<TenantRow>): Promise<Set<string>> {
    const found = new Set<string>();
    for (const slice of lookupSlices(chunk.rows)) {
      let min = slice[0]?.timestamp ?? '';
      let max = min;
      const tenants = new Set<string>();
      for (const r of slice) {
        if (r.timestamp < min) min = r.timestamp;
        if (r.timestamp > max) max = r.timestamp;
        tenants.add(r.tenantId);
      }
      // A retried copy may carry a slightly different skew-corrected timestamp;
      // a day either side keeps partition pruning without missing it.
      const hits = await this.wh.query<{ tenant_id: string; message_id: string }>(
        `SELECT tenant_id, message_id FROM events
         WHERE tenant_id IN {t:Array(String)}
           AND timestamp BETWEEN toDateTime64({min:String}, 3, 'UTC') - INTERVAL 1 DAY AND toDateTime64({max:String}, 3, 'UTC') + INTERVAL 1 DAY
           AND message_id IN {ids:Array(String)}`,
        { params: { t: [...tenants], min, max, ids: slice.map((r) => r.messageId) } },
      );
      for (const h of hits) found.add(`${h.tenant_id}\n${h.message_id}`);
    }
    return found;
  }
}

/** An InsertRow checked against its batch's tenant (a chunk can hold many tenants). */
type TenantRow = InsertRow;

export function chunkToken(tokens: readonly string[], rows: readonly Pick<TenantRow, 'tenantId' | 'messageId'>[]): string {
  // The hashed text is a compatibility contract (a replay after an upgrade must repeat the token,
  // event-writer.test.ts pins it): each batch token and a newline, then each tenant/message_id and a
  // newline. One string and one hash: a hash update per part cost ~3x as much.
  let text = '';
  for (const t of tokens) text += t + '\n';
  for (const r of rows) text += r.tenantId + '/' + r.messageId + '\n';
  return hash('sha256', text, 'hex').slice(0, 40);
}

/**
 * The batch's rows as InsertRows of its tenant. Rows from the pipeline go
 * through the whole guard here; spooled lines only through the byte check of
 * their tenant binding. Throws GuardViolation at the first row that fails.
 */
async function guardBatch(b: TenantBatch, slice?: TimeSlice): Promise<TenantRow[]> {
  checkTenantId(b.tenantId);
  const prefix = linePrefix(b.tenantId);
  const out: TenantRow[] = new Array<TenantRow>(b.rows.length);
  for (let i = 0; i < b.rows.length; i++) {
    if (i % ROWS_PER_SLICE_CHECK === 0) await slice?.maybePause();
    const r = b.rows[i] as EventRow | InsertRow;
    const ins = isInsertRow(r) ? r : toInsertRow(b.tenantId, r, false, i);
    if (ins.tenantId !== b.tenantId || !lineBoundTo(prefix, ins)) {
      throw new GuardViolation(`row ${i}: line is not one row of the batch tenant`, b.tenantId, i);
    }
    out[i] = ins;
  }
  return out;
}
