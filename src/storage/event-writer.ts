/**
 * The only code that writes events into ClickHouse. Before anything is
 * inserted it checks, independently of the ingest pipeline, that every row
 * belongs to the tenant the batch is written for and that the columns the
 * table and the dedup logic rely on are well-formed. A row that fails is a
 * bug upstream: the whole batch is refused with a GuardViolation (logged and
 * alerted by the caller), never written.
 */
import { createHash } from 'node:crypto';
import { CLICKHOUSE_TIME_RE, EVENT_TYPES, type EventRow } from '../../schemas/event-row.ts';
import type { Warehouse } from './warehouse.ts';

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
const TENANT_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ID = 256;
const EXISTS_CHUNK = 2_000;

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function guardRows(tenantId: string, rows: readonly EventRow[]): void {
  if (!TENANT_RE.test(tenantId)) throw new GuardViolation('batch tenant id is malformed', tenantId, -1);
  rows.forEach((row, i) => {
    const fail = (what: string) => {
      throw new GuardViolation(`row ${i}: ${what}`, tenantId, i);
    };
    if (row.tenant_id !== tenantId) fail('tenant_id differs from the batch tenant');
    if (typeof row.message_id !== 'string' || row.message_id.length === 0 || row.message_id.length > MAX_ID) fail('message_id malformed');
    if (!TYPES.has(row.type)) fail('type is not an event type');
    if (!CLICKHOUSE_TIME_RE.test(row.timestamp)) fail('timestamp malformed');
    if (!CLICKHOUSE_TIME_RE.test(row.received_at)) fail('received_at malformed');
    if (row.sent_at !== null && !CLICKHOUSE_TIME_RE.test(row.sent_at)) fail('sent_at malformed');
    if (row.original_timestamp !== null && !CLICKHOUSE_TIME_RE.test(row.original_timestamp)) fail('original_timestamp malformed');
    if (!isPlainObject(row.properties) || !isPlainObject(row.traits) || !isPlainObject(row.context)) fail('JSON columns must be objects');
    for (const k of ['event', 'user_id', 'anonymous_id', 'group_id', 'previous_id', 'ip', 'user_agent', 'key_id'] as const) {
      if (typeof row[k] !== 'string') fail(`${k} must be a string`);
    }
    if (row.is_bot !== undefined && row.is_bot !== 0 && row.is_bot !== 1) fail('is_bot must be 0 or 1');
  });
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
 * Message ids per existence lookup: 1,000 UUIDs are ~45 KB of URL on the
 * server path (bound parameters travel in the query string), far inside a
 * ClickHouse server's 1 MiB http_max_uri_size, which a 50k-row flush would pass.
 */
export const IDS_PER_LOOKUP = 1_000;

function sha256(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex');
}

/** Rows split into chunks of at most `maxMonths` distinct months, months in order. */
export function chunkByMonth(rows: readonly EventRow[], maxMonths = MAX_PARTITIONS_PER_INSERT): EventRow[][] {
  const byMonth = new Map<string, EventRow[]>();
  for (const r of rows) {
    const month = r.timestamp.slice(0, 7);
    const list = byMonth.get(month);
    if (list) list.push(r);
    else byMonth.set(month, [r]);
  }
  const months = [...byMonth.keys()].sort();
  const chunks: EventRow[][] = [];
  for (let i = 0; i < months.length; i += maxMonths) {
    chunks.push(months.slice(i, i + maxMonths).flatMap((m) => byMonth.get(m) ?? []));
  }
  return chunks;
}

export class EventWriter {
  constructor(private readonly wh: Warehouse) {}

  /**
   * Inserts one tenant's rows, skipping message_ids already stored for that
   * tenant. `dedupToken` identifies this exact batch (e.g. its spool
   * position) so a replay of the same INSERT after a crash is dropped by the
   * engine even if it raced the existence check.
   *
   * Each chunk's token also hashes the message_ids it carries: a replay that
   * finds part of the batch already stored (a crash between two chunks, or
   * between the parts of one multi-month INSERT) sends a different set of rows,
   * and reusing the token would make the engine drop them as duplicates.
   */
  async write(tenantId: string, rows: readonly EventRow[], dedupToken?: string): Promise<WriteResult> {
    guardRows(tenantId, rows);
    const unique = new Map<string, EventRow>();
    for (const row of rows) if (!unique.has(row.message_id)) unique.set(row.message_id, row);
    let inserted = 0;
    let inserts = 0;
    for (const chunk of chunkByMonth([...unique.values()])) {
      const existing = await this.existingIds(tenantId, chunk);
      const fresh = chunk.filter((r) => !existing.has(r.message_id));
      if (fresh.length === 0) continue;
      const payload = Buffer.from(fresh.map((r) => JSON.stringify(r)).join('\n'));
      const base = dedupToken ?? sha256(payload.toString('utf8'));
      const token = sha256(base, ...fresh.map((r) => r.message_id)).slice(0, 40);
      await this.wh.insertJsonEachRow('events', payload, {
        settings: { insert_deduplication_token: `${tenantId}:${token}`.replace(/[^A-Za-z0-9_.\-]/g, '_') },
      });
      inserted += fresh.length;
      inserts += 1;
    }
    return { inserted, duplicates: rows.length - inserted, inserts };
  }

  private async existingIds(tenantId: string, rows: EventRow[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < rows.length; i += IDS_PER_LOOKUP) {
      const slice = rows.slice(i, i + IDS_PER_LOOKUP);
      let min = slice[0]!.timestamp;
      let max = min;
      for (const r of slice) {
        if (r.timestamp < min) min = r.timestamp;
        if (r.timestamp > max) max = r.timestamp;
      }
      // A retried copy may carry a slightly different skew-corrected timestamp;
      // a day either side keeps partition pruning without missing it.
      const ids = await this.wh.query<{ message_id: string }>(
        `SELECT message_id FROM events
         WHERE tenant_id = {t:String}
           AND timestamp BETWEEN toDateTime64({min:String}, 3, 'UTC') - INTERVAL 1 DAY AND toDateTime64({max:String}, 3, 'UTC') + INTERVAL 1 DAY
           AND message_id IN {ids:Array(String)}`,
        { params: { t: tenantId, min, max, ids: slice.map((r) => r.message_id) } },
      );
      for (const f of ids) found.add(f.message_id);
    }
    return found;
  }
}
