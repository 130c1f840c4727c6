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
const TENANT_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ID = 256;

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
 * Message ids per existence lookup. A bound Array(String) parses in
 * super-linear time (10k ids: 57 ms, 50k: 4.6 s here), and on the server path
 * bound parameters travel in the URL: 1,000 UUIDs are ~45 KB, far inside a
 * ClickHouse server's 1 MiB http_max_uri_size, which a 20k-row flush would pass.
 */
export const IDS_PER_LOOKUP = 1_000;

function sha256(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex');
}

/** One tenant's rows for one write, and the token that names them (e.g. their spool positions). */
export interface TenantBatch {
  tenantId: string;
  rows: readonly EventRow[];
  token: string;
}

interface Chunk {
  rows: EventRow[];
  tenants: string[];
  tokens: string[];
}

/**
 * Packs the batches' rows into INSERT chunks of at most `maxPartitions`
 * (tenant, month) partitions, in batch order then month order, so the same
 * batches always pack the same way (a replay sends the same chunks).
 */
export function packPartitions(batches: readonly TenantBatch[], maxPartitions = MAX_PARTITIONS_PER_INSERT): Chunk[] {
  const chunks: Chunk[] = [];
  let current: Chunk | undefined;
  let partitions = 0;
  for (const b of batches) {
    const byMonth = new Map<string, EventRow[]>();
    for (const r of b.rows) {
      const month = r.timestamp.slice(0, 7);
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
      current.rows.push(...(byMonth.get(month) ?? []));
      partitions += 1;
    }
  }
  return chunks;
}

/** One tenant's rows split into chunks of at most `maxMonths` distinct months, months in order. */
export function chunkByMonth(rows: readonly EventRow[], maxMonths = MAX_PARTITIONS_PER_INSERT): EventRow[][] {
  return packPartitions([{ tenantId: rows[0]?.tenant_id ?? '', rows, token: '' }], maxMonths).map((c) => c.rows);
}

export interface ManyResult extends WriteResult {
  /** Batches in a chunk ClickHouse refused as bad data: the caller writes them one tenant at a time to find the row. */
  refused: TenantBatch[];
}

export class EventWriter {
  constructor(private readonly wh: Warehouse) {}

  /**
   * Inserts one tenant's rows, skipping message_ids already stored for that
   * tenant. `dedupToken` identifies this exact batch (e.g. its spool
   * position) so a replay of the same INSERT after a crash is dropped by the
   * engine even if it raced the existence check. A data error propagates.
   */
  async write(tenantId: string, rows: readonly EventRow[], dedupToken?: string): Promise<WriteResult> {
    const token = dedupToken ?? sha256(...rows.map((r) => r.message_id));
    const { refused: _, ...r } = await this.insert([{ tenantId, rows, token }], false);
    return r;
  }

  /**
   * Inserts many tenants' rows with as few statements as ClickHouse allows:
   * each INSERT carries up to MAX_PARTITIONS_PER_INSERT (tenant, month)
   * partitions, so a cycle with a thousand active tenants is tens of
   * statements, not thousands (an INSERT costs ~6 ms plus ~6 ms per part
   * here; one per tenant took 86 s to drain 3,000 requests of 1,000 tenants).
   * Every row is still guarded against its own batch's tenant before anything
   * is written, and parts stay per tenant: the table is partitioned by tenant.
   */
  async writeMany(batches: readonly TenantBatch[]): Promise<ManyResult> {
    return await this.insert(batches, true);
  }

  /**
   * Each chunk's token hashes the batches' tokens and the message_ids the
   * chunk carries: a replay that finds part of its rows already stored (a
   * crash between two chunks, or between the parts of one multi-partition
   * INSERT) sends a different set of rows, and reusing the token would make
   * the engine drop them as duplicates.
   */
  private async insert(batches: readonly TenantBatch[], collectRefused: boolean): Promise<ManyResult> {
    for (const b of batches) guardRows(b.tenantId, b.rows);
    const unique = batches.map((b) => {
      const seen = new Map<string, EventRow>();
      for (const row of b.rows) if (!seen.has(row.message_id)) seen.set(row.message_id, row);
      return { ...b, rows: [...seen.values()] };
    });
    const total = batches.reduce((n, b) => n + b.rows.length, 0);
    let inserted = 0;
    let inserts = 0;
    const refused = new Set<string>();
    for (const chunk of packPartitions(unique)) {
      // A tenant already refused is rewritten whole, one tenant at a time, by the caller:
      // so is everyone sharing a chunk with it (rows that landed are skipped then).
      if (chunk.tenants.some((t) => refused.has(t))) {
        for (const t of chunk.tenants) refused.add(t);
        continue;
      }
      const existing = await this.existing(chunk);
      const fresh = chunk.rows.filter((r) => !existing.has(`${r.tenant_id}\n${r.message_id}`));
      if (fresh.length === 0) continue;
      const payload = Buffer.from(fresh.map((r) => JSON.stringify(r)).join('\n'));
      const token = sha256(...chunk.tokens, ...fresh.map((r) => `${r.tenant_id}/${r.message_id}`)).slice(0, 40);
      const tenantPart = chunk.tenants.length === 1 ? `${chunk.tenants[0]}:` : 'm:';
      try {
        await this.wh.insertJsonEachRow('events', payload, {
          settings: { insert_deduplication_token: `${tenantPart}${token}`.replace(/[^A-Za-z0-9_.\-]/g, '_') },
        });
      } catch (err) {
        if (!collectRefused || !(err instanceof WarehouseError) || err.kind !== 'data') throw err;
        for (const t of chunk.tenants) refused.add(t);
        continue;
      }
      inserted += fresh.length;
      inserts += 1;
    }
    const back = batches.filter((b) => refused.has(b.tenantId));
    const refusedRows = back.reduce((n, b) => n + b.rows.length, 0);
    return { inserted, duplicates: total - refusedRows - inserted, inserts, refused: back };
  }

  /** `tenant\nmessage_id` of the chunk's rows already stored. */
  private async existing(chunk: Chunk): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < chunk.rows.length; i += IDS_PER_LOOKUP) {
      const slice = chunk.rows.slice(i, i + IDS_PER_LOOKUP);
      let min = slice[0]!.timestamp;
      let max = min;
      const tenants = new Set<string>();
      for (const r of slice) {
        if (r.timestamp < min) min = r.timestamp;
        if (r.timestamp > max) max = r.timestamp;
        tenants.add(r.tenant_id);
      }
      // A retried copy may carry a slightly different skew-corrected timestamp;
      // a day either side keeps partition pruning without missing it.
      const hits = await this.wh.query<{ tenant_id: string; message_id: string }>(
        `SELECT tenant_id, message_id FROM events
         WHERE tenant_id IN {t:Array(String)}
           AND timestamp BETWEEN toDateTime64({min:String}, 3, 'UTC') - INTERVAL 1 DAY AND toDateTime64({max:String}, 3, 'UTC') + INTERVAL 1 DAY
           AND message_id IN {ids:Array(String)}`,
        { params: { t: [...tenants], min, max, ids: slice.map((r) => r.message_id) } },
      );
      for (const h of hits) found.add(`${h.tenant_id}\n${h.message_id}`);
    }
    return found;
  }
}
