/**
 * Per-tenant retention, in days (0 keeps events forever).
 *
 * Why not a ClickHouse TTL: a TTL expression cannot read a per-tenant
 * setting from another table, so it would need a retention column filled at
 * insert (and rewritten for every existing row on each change) or a TTL
 * clause naming every tenant (rewritten, and re-materialised over the whole
 * table, on each change); and a TTL is applied only when parts merge (at most
 * every merge_with_ttl_timeout, 4 h by default), so expired rows stay
 * visible until then. Instead, enforcement here is exact and immediate:
 * - whole months past the cutoff: `ALTER TABLE events DROP PARTITION` (the
 *   partition key is (tenant_id, month), so this touches only that tenant);
 * - the month the cutoff falls in: a lightweight DELETE of the rows before it
 *   (hidden from queries at once, physically removed by the next merge);
 * - the same cutoff applied to the tenant's dead letters.
 * It runs when a retention is changed (applying to existing data at once) and
 * on a timer (PALISADE_RETENTION_INTERVAL) for data that ages past it.
 * On a cluster the partition drops and DELETEs go to each shard's `_local`
 * table ON CLUSTER (src/storage/cluster-sql.ts); counts read the Distributed table.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { OneAtATime } from '../concurrency/one-at-a-time.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { alterTable, deleteFrom, storageName, systemParts } from '../storage/cluster-sql.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';
import { quotePartitionId } from './backup-plan.ts';
import type { BackupService, Ctx } from './backup.ts';
import type { AuditSink } from './deletion.ts';

export const MAX_RETENTION_DAYS = 36_500;

export interface Enforced {
  partitionsDropped: number;
  rowsDeleted: number;
  deadLettersDeleted: number;
}

export interface RetentionChange {
  tenantId: string;
  previousDays: number;
  retentionDays: number;
  backupId: string | null;
  enforced: Enforced;
}

function version(): number {
  return Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
}

/** The first instant after the month of a partition like `('ten_x',202601)`. */
export function monthEnd(partition: string): number | undefined {
  const m = /,\s*(\d{4})(\d{2})\)$/.exec(partition);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]), 1);
}

export class RetentionService {
  /**
   * Enforcement runs one at a time: a change of retention (which stores the
   * setting, then enforces it) and the periodic run (every tenant's setting,
   * then each one enforced) would otherwise both count the same expired rows
   * before either deleted them, and the trail would say each deleted them.
   */
  private readonly enforcing = new OneAtATime();

  constructor(
    private readonly o: { warehouse: Warehouse; control: ControlPlane; backups: BackupService; audit: AuditSink; logger: Logger; now?: () => number },
  ) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  async get(tenantId: string): Promise<number> {
    const rows = await this.o.warehouse.query<{ d: number }>('SELECT retention_days AS d FROM tenant_settings FINAL WHERE tenant_id = {t:String}', {
      params: { t: tenantId },
    });
    return Number(rows[0]?.d ?? 0);
  }

  private async count(sql: string, params: Record<string, unknown>): Promise<number> {
    return Number((await this.o.warehouse.query<{ n: string }>(sql, { params, timeoutMs: 120_000 }))[0]?.n ?? 0);
  }

  async set(tenantId: string, days: number, ctx: Ctx): Promise<RetentionChange> {
    if (!Number.isInteger(days) || days < 0 || days > MAX_RETENTION_DAYS) throw new AppError(ErrorCode.INVALID_BODY, `retentionDays: 0 (forever) to ${MAX_RETENTION_DAYS}`);
    await this.o.control.getTenant(tenantId);
    const previousDays = await this.get(tenantId);
    const shortening = days > 0 && (previousDays === 0 || days < previousDays);
    let backupId: string | null = null;
    if (shortening && (await this.expiredRows(tenantId, days)) > 0) {
      // Shortening deletes data: back up what it will delete first (the partitions holding it), or do nothing.
      const parts = await this.o.warehouse.query<{ p: string }>(
        'SELECT DISTINCT _partition_id AS p FROM events WHERE tenant_id = {t:String} AND timestamp < {c:DateTime64(3)}',
        { params: { t: tenantId, c: this.cutoff(days) }, timeoutMs: 120_000 },
      );
      try {
        backupId = (await this.o.backups.create({ kind: 'tenant', tenantId, partitions: parts.map((x) => x.p) }, 'pre-retention', ctx)).id;
      } catch (err) {
        await this.o.audit.recordDurable({
          ...ctx,
          tenantId,
          action: 'retention.update',
          target: tenantId,
          outcome: 'refused',
          details: { previousDays, retentionDays: days, error: (err as Error).message.slice(0, 200) },
        });
        throw err;
      }
    }
    const enforced = await this.enforcing.run(async () => {
      await this.o.warehouse.insertJson(
        'tenant_settings',
        Buffer.from(jsonRow({ tenant_id: tenantId, retention_days: days, updated_at: toClickHouseTime(new Date(this.now())), version: version() })),
      );
      return days > 0 ? await this.enforceTenant(tenantId, days) : { partitionsDropped: 0, rowsDeleted: 0, deadLettersDeleted: 0 };
    });
    await this.o.audit.recordDurable({
      ...ctx,
      tenantId,
      action: 'retention.update',
      target: tenantId,
      outcome: 'ok',
      details: { previousDays, retentionDays: days, backupId, ...enforced },
    });
    return { tenantId, previousDays, retentionDays: days, backupId, enforced };
  }

  private cutoff(days: number): string {
    return toClickHouseTime(new Date(this.now() - days * 86_400_000));
  }

  private async expiredRows(tenantId: string, days: number): Promise<number> {
    const params = { t: tenantId, c: this.cutoff(days) };
    return (
      (await this.count('SELECT count() AS n FROM events WHERE tenant_id = {t:String} AND timestamp < {c:DateTime64(3)}', params)) +
      (await this.count('SELECT count() AS n FROM dead_letters WHERE tenant_id = {t:String} AND at < {c:DateTime64(3)}', params))
    );
  }

  /** Drops the tenant's expired months and deletes its expired rows; callers run it on `enforcing`. */
  private async enforceTenant(tenantId: string, days: number): Promise<Enforced> {
    const wh = this.o.warehouse;
    const cutoffMs = this.now() - days * 86_400_000;
    const params = { t: tenantId, c: this.cutoff(days) };
    const parts = await wh.query<{ id: string; part: string }>(
      `SELECT partition_id AS id, any(partition) AS part FROM ${systemParts(wh)}
       WHERE database = {db:String} AND table = {tbl:String} AND active AND startsWith(partition, concat('(''', {t:String}, ''','))
       GROUP BY partition_id`,
      { params: { t: tenantId, db: wh.database, tbl: storageName(wh, 'events') } },
    );
    let partitionsDropped = 0;
    for (const p of parts) {
      const end = monthEnd(p.part);
      if (end === undefined || end > cutoffMs) continue;
      await wh.command(alterTable(wh, 'events', `DROP PARTITION ID ${quotePartitionId(p.id)}`));
      partitionsDropped++;
    }
    const rowsDeleted = await this.count('SELECT count() AS n FROM events WHERE tenant_id = {t:String} AND timestamp < {c:DateTime64(3)}', params);
    if (rowsDeleted > 0) await wh.command(deleteFrom(wh, 'events', 'tenant_id = {t:String} AND timestamp < {c:DateTime64(3)}'), { params, timeoutMs: 600_000 });
    const deadLettersDeleted = await this.count('SELECT count() AS n FROM dead_letters WHERE tenant_id = {t:String} AND at < {c:DateTime64(3)}', params);
    if (deadLettersDeleted > 0) await wh.command(deleteFrom(wh, 'dead_letters', 'tenant_id = {t:String} AND at < {c:DateTime64(3)}'), { params, timeoutMs: 600_000 });
    return { partitionsDropped, rowsDeleted, deadLettersDeleted };
  }

  /** Every tenant with a retention; audits each one that lost data. */
  async enforceAll(tenantId: string | null = null): Promise<number> {
    const rows = await this.o.warehouse.query<{ t: string; d: number }>(
      `SELECT tenant_id AS t, retention_days AS d FROM tenant_settings FINAL WHERE retention_days > 0 AND ({only:String} = '' OR tenant_id = {only:String})`,
      { params: { only: tenantId ?? '' } },
    );
    let touched = 0;
    for (const r of rows) {
      const e = await this.enforcing.run(() => this.enforceTenant(r.t, Number(r.d)));
      if (e.partitionsDropped + e.rowsDeleted + e.deadLettersDeleted === 0) continue;
      touched++;
      this.o.audit.record({ actor: 'system', tenantId: r.t, action: 'retention.enforce', target: r.t, outcome: 'ok', details: { retentionDays: Number(r.d), ...e } });
    }
    return touched;
  }
}
