/**
 * The backups registry: one row per backup (a new version per status
 * change), with the manifest `verify` compares against. Created by the
 * backup service itself, like the migrations ledger by the runner, because a
 * pre-migration backup must be recordable before any migration has run.
 */
import { isoFromClickHouse } from '../control/control-plane.ts';
import { ensureTable } from '../storage/migrations.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';
import type { BackupScope } from './backup-plan.ts';

export type BackupReason = 'scheduled' | 'manual' | 'pre-migrate' | 'pre-delete-tenant' | 'pre-delete-user' | 'pre-retention' | 'pre-restore';

export interface Ctx {
  actor: string;
  clientIp?: string;
  requestId?: string;
}

export interface BackupRecord {
  id: string;
  createdAt: string;
  finishedAt: string | null;
  scope: BackupScope['kind'];
  tenantId: string | null;
  reason: BackupReason;
  destination: string;
  tables: string[];
  status: 'running' | 'ok' | 'failed' | 'expired';
  error: string | null;
  bytes: number;
  expiresAt: string;
  verifiedAt: string | null;
  verifyOk: boolean | null;
  actor: string;
}

export interface Row {
  id: string;
  created_at: string;
  finished_at: string | null;
  scope: string;
  tenant_id: string;
  reason: string;
  destination: string;
  tables: string[];
  status: string;
  error: string;
  bytes: string | number;
  manifest: string;
  verified_at: string | null;
  verify_ok: number | null;
  expires_at: string;
  actor: string;
  version?: number;
}

export const REGISTRY_DDL = `CREATE TABLE IF NOT EXISTS backups
(
    id String,
    created_at DateTime64(3, 'UTC'),
    finished_at Nullable(DateTime64(3, 'UTC')),
    scope LowCardinality(String),
    tenant_id String,
    reason LowCardinality(String),
    destination String,
    tables Array(String),
    status LowCardinality(String),
    error String,
    bytes UInt64,
    manifest String,
    verified_at Nullable(DateTime64(3, 'UTC')),
    verify_ok Nullable(UInt8),
    expires_at DateTime64(3, 'UTC'),
    actor String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id`;

export const BACKUP_ID = /^bak_\d{8}T\d{6}_[0-9A-Za-z]{6}$/;

export function version(): number {
  return Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
}

export function recordOf(r: Row): BackupRecord {
  return {
    id: r.id,
    createdAt: isoFromClickHouse(r.created_at),
    finishedAt: r.finished_at ? isoFromClickHouse(r.finished_at) : null,
    scope: r.scope as BackupScope['kind'],
    tenantId: r.tenant_id || null,
    reason: r.reason as BackupReason,
    destination: r.destination,
    tables: r.tables,
    status: r.status as BackupRecord['status'],
    error: r.error || null,
    bytes: Number(r.bytes),
    expiresAt: isoFromClickHouse(r.expires_at),
    verifiedAt: r.verified_at ? isoFromClickHouse(r.verified_at) : null,
    verifyOk: r.verify_ok === null ? null : r.verify_ok === 1,
    actor: r.actor,
  };
}

export class BackupRegistry {
  private ready = false;

  constructor(private readonly wh: Warehouse) {}

  async ensure(): Promise<void> {
    if (this.ready) return;
    await ensureTable(this.wh, 'backups', REGISTRY_DDL);
    this.ready = true;
  }

  async write(row: Row): Promise<void> {
    await this.wh.insertJson('backups', Buffer.from(jsonRow({ ...row, version: version() })));
  }

  async row(id: string): Promise<Row | undefined> {
    if (!BACKUP_ID.test(id)) return undefined;
    await this.ensure();
    return (await this.wh.query<Row>('SELECT * FROM backups FINAL WHERE id = {id:String}', { params: { id } }))[0];
  }

  async list(tenantId?: string): Promise<BackupRecord[]> {
    await this.ensure();
    const rows = await this.wh.query<Row>(
      `SELECT * EXCEPT (manifest), '{}' AS manifest FROM backups FINAL
       WHERE {t:String} = '' OR tenant_id = {t:String} OR scope = 'full' ORDER BY created_at DESC, id DESC LIMIT 1000`,
      { params: { t: tenantId ?? '' } },
    );
    return rows.map(recordOf);
  }

  /** Backups past their expiry that still hold files (or may). */
  async expired(): Promise<Row[]> {
    await this.ensure();
    return await this.wh.query<Row>("SELECT * FROM backups FINAL WHERE status IN ('ok', 'failed', 'running') AND expires_at < now64(3)");
  }

  /** The most recently verified backup and whether its verification passed. */
  async lastVerification(): Promise<{ id: string; at: string; ok: boolean } | undefined> {
    await this.ensure();
    const rows = await this.wh.query<{ id: string; at: string; ok: number }>(
      `SELECT id, verified_at AS at, verify_ok AS ok FROM backups FINAL
       WHERE verified_at IS NOT NULL AND verify_ok IS NOT NULL ORDER BY verified_at DESC LIMIT 1`,
    );
    const r = rows[0];
    return r ? { id: r.id, at: isoFromClickHouse(r.at), ok: Number(r.ok) === 1 } : undefined;
  }

  async lastSuccess(): Promise<{ id: string; at: string; fullAt: string | null } | undefined> {
    await this.ensure();
    const rows = await this.wh.query<{ id: string; at: string | null; full: string | null }>(
      `SELECT argMax(id, finished_at) AS id, max(finished_at) AS at, maxIf(finished_at, scope = 'full') AS full
       FROM backups FINAL WHERE status = 'ok' AND finished_at IS NOT NULL`,
    );
    const r = rows[0];
    if (!r?.at || !r.id) return undefined;
    return { id: r.id, at: isoFromClickHouse(r.at), fullAt: r.full && !r.full.startsWith('1970') ? isoFromClickHouse(r.full) : null };
  }
}
