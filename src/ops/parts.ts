/**
 * Active parts per partition, sampled from system.parts. Events are
 * partitioned by (tenant, month), so many active tenants mean many small
 * parts; past `parts_to_delay_insert` (1000 by default, per partition)
 * ClickHouse slows inserts, past `parts_to_throw_insert` (3000) it refuses
 * them and the spool fills. Sampled by the housekeeping loop every minute,
 * never on scrape: on a server with thousands of partitions system.parts is
 * not free, and a scrape must not wait on ClickHouse.
 */
import { logicalName, systemParts } from '../storage/cluster-sql.ts';
import type { Warehouse } from '../storage/warehouse.ts';

export interface TableParts {
  table: string;
  /** The most active parts in any one partition of the table. */
  maxPartsPerPartition: number;
  activeParts: number;
  partitions: number;
}

export interface PartsSample {
  at: number;
  tables: TableParts[];
}

// 10 s: a healthy engine answers this in milliseconds; a slow answer is itself worth a log line.
const TIMEOUT_MS = 10_000;

export class PartsSampler {
  private last: PartsSample | null = null;
  private lastError: string | undefined;

  constructor(private readonly warehouse: Warehouse) {}

  async sample(): Promise<PartsSample> {
    try {
      // This database's MergeTree tables only (a fixed set from the migrations, so `table` is a bounded label).
      // On a cluster (cluster-sql.ts) every replica's parts, counted per replica (the insert limits apply per
      // replica) and reported for the busiest one, so replicas are not added up.
      const rows = await this.warehouse.query<{ table: string; max_parts: number | string; active_parts: number | string; partitions: number | string }>(
        `SELECT table, max(host_max) AS max_parts, max(host_parts) AS active_parts, max(host_partitions) AS partitions
         FROM (
           SELECT host, table, max(n) AS host_max, sum(n) AS host_parts, count() AS host_partitions
           FROM (SELECT hostName() AS host, table, partition_id, count() AS n FROM ${systemParts(this.warehouse)} WHERE database = {db:String} AND active GROUP BY host, table, partition_id)
           GROUP BY host, table
         )
         GROUP BY table ORDER BY table`,
        { params: { db: this.warehouse.database }, timeoutMs: TIMEOUT_MS },
      );
      this.last = {
        at: Date.now(),
        tables: rows.map((r) => ({ table: logicalName(this.warehouse, r.table), maxPartsPerPartition: Number(r.max_parts), activeParts: Number(r.active_parts), partitions: Number(r.partitions) })),
      };
      this.lastError = undefined;
      return this.last;
    } catch (err) {
      this.lastError = (err as Error).name;
      throw err;
    }
  }

  /** The last good sample (null before the first), and why the latest attempt failed if it did. */
  status(): { sample: PartsSample | null; lastError?: string } {
    return { sample: this.last, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }
}
