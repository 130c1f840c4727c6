/**
 * Backups: ClickHouse `BACKUP … TO Disk(<disk>, <id>)` where the disk is an
 * AES-256 encrypted disk (the embedded engine declares one under
 * <dataDir>/backups; on a server, PALISADE_BACKUP_DISK names an encrypted
 * disk over a local or S3 disk that the server lists in backups.allowed_disk).
 * Each backup is recorded in a registry table with a manifest of row counts
 * and checksums per partition; `verify` restores into a scratch database and
 * compares; `restore` puts the backed-up partitions back (after a backup of
 * what it is about to overwrite) and re-applies every deletion made on
 * request since. Backups older than the retention period are deleted, so data
 * deleted on request is gone from backups within that window.
 * One backup, verify or restore runs at a time per node.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { randomBase62 } from '../auth/base62.ts';
import { OneAtATime } from '../concurrency/one-at-a-time.ts';
import { isoFromClickHouse } from '../control/control-plane.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { AuditInput } from '../audit/audit-log.ts';
import type { Logger } from '../log/index.ts';
import { backupTable, createDatabase, dropDatabase, onCluster } from '../storage/cluster-sql.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { backupStatement, compareManifest, LEDGER_TABLES, manifestOf, mergeManifests, planFor, type BackupScope, type Manifest, type Mismatch } from './backup-plan.ts';
import { BACKUP_ID, BackupRegistry, recordOf, type BackupReason, type BackupRecord, type Ctx, type Row } from './backup-registry.ts';
import { applyRestore, type RestoredTable } from './backup-restore.ts';

export type { BackupScope } from './backup-plan.ts';
export type { BackupReason, BackupRecord, Ctx } from './backup-registry.ts';

export interface VerifyResult {
  backupId: string;
  ok: boolean;
  partitionsChecked: number;
  partitionsChangedDuringBackup: number;
  mismatches: Mismatch[];
  /** Set when the backup could not be restored at all (the worst verification failure). */
  error?: string;
}

export interface RestoreResult {
  backupId: string;
  preRestoreBackupId: string;
  tenantId: string | null;
  tables: RestoredTable[];
  skipped: string[];
  deletionsReapplied: number;
}

export interface BackupStatus {
  lastSuccessAt: string | null;
  lastSuccessId: string | null;
  lastFullSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  /** The most recent verification (a scratch restore compared with the manifest), of any backup. */
  lastVerifiedAt: string | null;
  lastVerifiedId: string | null;
  lastVerifyOk: boolean | null;
  /** Why the last verification failed when the backup did not restore at all (ClickHouse's first line). */
  lastVerifyError: string | null;
}

const DISK = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A backup of a large tenant copies every part; give it time, the engine's own work is bounded by the disk.
const BACKUP_TIMEOUT_MS = 60 * 60_000;
const MAX_ERROR = 1024;

export class BackupFailed extends AppError {
  constructor(
    readonly backupId: string,
    reason: string,
    cause?: unknown,
  ) {
    super(ErrorCode.BACKUP_FAILED, `backup ${backupId} failed (${reason}); nothing was changed`, { cause });
  }
}

/** ClickHouse's error text names the failing path or disk; keep its first line only. */
function describe(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  const line = m.split('\n')[0] ?? m;
  return line.length > MAX_ERROR ? line.slice(0, MAX_ERROR) : line;
}

export interface BackupServiceOptions {
  warehouse: Warehouse;
  logger: Logger;
  /** The encrypted disk BACKUP writes to. */
  disk: string;
  retentionDays: number;
  /** Embedded only: the directory behind the backup disk, so expired backups can be deleted. */
  localDir?: string;
  audit?: { record(input: AuditInput): void };
}

/** After a restore: re-apply deletions on request made since the backup, and retention; returns deletions re-applied. */
export type AfterRestore = (o: { since: Date; tenantId: string | null }) => Promise<number>;

export class BackupService {
  private readonly lock = new OneAtATime();
  private readonly registry: BackupRegistry;
  private afterRestore: AfterRestore | undefined;
  private state: BackupStatus = {
    lastSuccessAt: null,
    lastSuccessId: null,
    lastFullSuccessAt: null,
    lastFailureAt: null,
    lastError: null,
    lastVerifiedAt: null,
    lastVerifiedId: null,
    lastVerifyOk: null,
    lastVerifyError: null,
  };

  constructor(private readonly o: BackupServiceOptions) {
    if (!DISK.test(o.disk)) throw new Error('backup disk must be a plain disk name');
    this.registry = new BackupRegistry(o.warehouse);
  }

  /** Set once the deletion and retention services exist (they need this service first). */
  onRestore(fn: AfterRestore): void {
    this.afterRestore = fn;
  }

  /** For alerting: the last successful backup (a getter for /metrics and /healthz). */
  status(): BackupStatus {
    return { ...this.state };
  }

  destinationFor(id: string): string {
    return `Disk('${this.o.disk}', '${id}')`;
  }

  ensureRegistry(): Promise<void> {
    return this.registry.ensure();
  }

  /** Loads the last success from the registry (after a restart). */
  async load(): Promise<void> {
    const last = await this.registry.lastSuccess();
    if (last) Object.assign(this.state, { lastSuccessAt: last.at, lastSuccessId: last.id, lastFullSuccessAt: last.fullAt });
    const verified = await this.registry.lastVerification();
    if (verified) Object.assign(this.state, { lastVerifiedAt: verified.at, lastVerifiedId: verified.id, lastVerifyOk: verified.ok });
  }

  create(scope: BackupScope, reason: BackupReason, ctx: Ctx): Promise<BackupRecord> {
    return this.lock.run(() => this.createLocked(scope, reason, ctx));
  }

  private async createLocked(scope: BackupScope, reason: BackupReason, ctx: Ctx): Promise<BackupRecord> {
    await this.registry.ensure();
    const wh = this.o.warehouse;
    const now = new Date();
    const id = `bak_${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}_${randomBase62(6)}`;
    const destination = this.destinationFor(id);
    const row: Row = {
      id,
      created_at: toClickHouseTime(now),
      finished_at: null,
      scope: scope.kind,
      tenant_id: scope.kind === 'tenant' ? scope.tenantId : '',
      reason,
      destination,
      tables: [],
      status: 'running',
      error: '',
      bytes: 0,
      manifest: '{}',
      verified_at: null,
      verify_ok: null,
      expires_at: toClickHouseTime(new Date(now.getTime() + this.o.retentionDays * 86_400_000)),
      actor: ctx.actor,
    };
    await this.registry.write(row);
    try {
      const plan = await planFor(wh, scope);
      if (plan.length === 0) throw new Error('nothing to back up');
      row.tables = plan.map((p) => p.table);
      const before = await manifestOf(wh, wh.database, plan);
      await wh.command(backupStatement(wh, plan, destination), { timeoutMs: BACKUP_TIMEOUT_MS });
      const after = await manifestOf(wh, wh.database, plan);
      const size = await wh.query<{ b: string }>('SELECT toString(sum(total_size)) AS b FROM system.backups WHERE name = {n:String}', { params: { n: destination } });
      Object.assign(row, { status: 'ok', finished_at: toClickHouseTime(new Date()), manifest: JSON.stringify(mergeManifests(before, after)), bytes: Number(size[0]?.b ?? 0) });
      await this.registry.write(row);
    } catch (err) {
      const reasonText = describe(err);
      Object.assign(row, { status: 'failed', finished_at: toClickHouseTime(new Date()), error: reasonText });
      await this.registry.write(row).catch(() => undefined);
      this.state.lastFailureAt = new Date().toISOString();
      this.state.lastError = reasonText;
      this.o.logger.error({ backupId: id, reason, scope: scope.kind, errName: (err as Error).name }, 'backup failed');
      this.o.audit?.record({ ...auditBase(ctx, row), action: 'backup.create', outcome: 'failed', details: { reason, scope: scope.kind, error: reasonText.slice(0, 200) } });
      throw new BackupFailed(id, reasonText, err);
    }
    const rec = recordOf(row);
    Object.assign(this.state, { lastSuccessAt: rec.finishedAt, lastSuccessId: rec.id }, scope.kind === 'full' ? { lastFullSuccessAt: rec.finishedAt } : {});
    this.o.logger.info({ backupId: id, reason, scope: scope.kind, tables: rec.tables.length, bytes: rec.bytes }, 'backup created');
    this.o.audit?.record({ ...auditBase(ctx, row), action: 'backup.create', outcome: 'ok', details: { reason, scope: scope.kind, tables: rec.tables, bytes: rec.bytes } });
    return rec;
  }

  private async row(id: string): Promise<Row> {
    const r = await this.registry.row(id);
    if (!r) throw new AppError(ErrorCode.NOT_FOUND, 'no such backup');
    return r;
  }

  async get(id: string): Promise<BackupRecord & { manifest: Manifest }> {
    const r = await this.row(id);
    return { ...recordOf(r), manifest: JSON.parse(r.manifest) as Manifest };
  }

  list(o: { tenantId?: string } = {}): Promise<BackupRecord[]> {
    return this.registry.list(o.tenantId);
  }

  private usable(r: Row): void {
    if (r.status !== 'ok') throw new AppError(ErrorCode.CONFLICT, `backup ${r.id} is ${r.status}; only a completed backup can be verified or restored`);
  }

  /** Restores `tables` of a backup into a fresh scratch database for `fn`, then drops it. */
  private async scratch<T>(r: Row, tables: string[], fn: (db: string) => Promise<T>): Promise<T> {
    const wh = this.o.warehouse;
    const db = `palisade_scratch_${randomBytes(6).toString('hex')}`;
    await wh.command(createDatabase(wh, db), { timeoutMs: BACKUP_TIMEOUT_MS });
    try {
      const list = tables.map((t) => `TABLE ${backupTable(wh, wh.database, t)} AS ${backupTable(wh, db, t)}`).join(', ');
      const restore = `RESTORE ${list}${onCluster(wh)} FROM ${r.destination}`;
      // The copy must hold the parts exactly as backed up: a background merge of a
      // ReplacingMergeTree (events, the control plane) collapses duplicate keys and
      // changes the row counts the manifest recorded, so a sound backup would verify
      // false whenever the merger got there first. So: the empty tables, merges
      // stopped on them, then the data.
      // (RESTORE's own SETTINGS clause: a server refuses these as session settings.)
      await wh.command(`${restore} SETTINGS structure_only = 1`, { timeoutMs: BACKUP_TIMEOUT_MS });
      for (const t of tables) await wh.command(`SYSTEM STOP MERGES${onCluster(wh)} ${backupTable(wh, db, t)}`, { timeoutMs: BACKUP_TIMEOUT_MS });
      await wh.command(`${restore} SETTINGS allow_non_empty_tables = 1`, { timeoutMs: BACKUP_TIMEOUT_MS });
      return await fn(db);
    } finally {
      await wh.command(dropDatabase(wh, db), { timeoutMs: BACKUP_TIMEOUT_MS }).catch((err: Error) => this.o.logger.warn({ db, errName: err.name }, 'scratch database not dropped'));
    }
  }

  verify(id: string, ctx: Ctx): Promise<VerifyResult> {
    return this.lock.run(async () => {
      const r = await this.row(id);
      this.usable(r);
      const expected = JSON.parse(r.manifest) as Manifest;
      const tables = Object.keys(expected);
      let actual: Manifest;
      try {
        actual = await this.scratch(r, tables, (db) => manifestOf(this.o.warehouse, db, tables.map((table) => ({ table }))));
      } catch (err) {
        // ClickHouse itself unreachable: nothing was learnt about the backup; say so, record nothing.
        if (!(await this.o.warehouse.ping()).ok) throw err;
        // Otherwise the backup would not restore (damaged, or unreadable with this key): a failed verification.
        const error = describe(err);
        await this.recordVerification(r, false, ctx, { error: error.slice(0, 200) });
        return { backupId: id, ok: false, partitionsChecked: 0, partitionsChangedDuringBackup: 0, mismatches: [], error };
      }
      const cmp = compareManifest(expected, actual);
      const ok = cmp.mismatches.length === 0;
      await this.recordVerification(r, ok, ctx, { partitions: cmp.checked, mismatches: cmp.mismatches.length });
      return { backupId: id, ok, partitionsChecked: cmp.checked, partitionsChangedDuringBackup: cmp.changedDuringBackup, mismatches: cmp.mismatches };
    });
  }

  private async recordVerification(r: Row, ok: boolean, ctx: Ctx, details: Record<string, unknown>): Promise<void> {
    const at = new Date();
    await this.registry.write({ ...r, verified_at: toClickHouseTime(at), verify_ok: ok ? 1 : 0 });
    const error = typeof details.error === 'string' ? details.error : null;
    Object.assign(this.state, { lastVerifiedAt: at.toISOString(), lastVerifiedId: r.id, lastVerifyOk: ok, lastVerifyError: error });
    if (!ok) this.o.logger.error({ backupId: r.id, mismatches: details.mismatches ?? null, restored: !('error' in details) }, 'backup verification failed: the backup does not restore to what was backed up');
    this.o.audit?.record({ ...auditBase(ctx, r), action: 'backup.verify', outcome: ok ? 'ok' : 'failed', details });
  }

  restore(id: string, o: { tenantId?: string }, ctx: Ctx): Promise<RestoreResult> {
    return this.lock.run(async () => {
      const r = await this.row(id);
      this.usable(r);
      if (o.tenantId && r.scope === 'tenant' && r.tenant_id !== o.tenantId) throw new AppError(ErrorCode.BAD_REQUEST, `backup ${id} holds tenant ${r.tenant_id} only`);
      const tenantId = o.tenantId ?? (r.scope === 'tenant' ? r.tenant_id : null);
      const tables = r.tables.filter((t) => !LEDGER_TABLES.has(t));
      // Restoring overwrites: first a backup of what it is about to overwrite (refused if that fails).
      const pre = await this.createLocked(tenantId ? { kind: 'tenant', tenantId } : { kind: 'tables', tables }, 'pre-restore', ctx);
      const applied = await this.scratch(r, tables, (db) => applyRestore(this.o.warehouse, db, tables, tenantId));
      const deletionsReapplied = (await this.afterRestore?.({ since: new Date(isoFromClickHouse(r.created_at)), tenantId })) ?? 0;
      this.o.audit?.record({
        ...auditBase(ctx, { id, tenant_id: tenantId ?? '' }),
        action: 'backup.restore',
        outcome: 'ok',
        details: { preRestoreBackupId: pre.id, tables: applied.tables.map((t) => t.table), deletionsReapplied },
      });
      return {
        backupId: id,
        preRestoreBackupId: pre.id,
        tenantId,
        tables: applied.tables,
        skipped: [...applied.skipped, ...r.tables.filter((t) => LEDGER_TABLES.has(t))],
        deletionsReapplied,
      };
    });
  }

  /** Deletes backups past the retention period; returns their ids. */
  expire(ctx: Ctx = { actor: 'system' }): Promise<string[]> {
    return this.lock.run(async () => {
      const gone: string[] = [];
      for (const r of await this.registry.expired()) {
        if (this.o.localDir && BACKUP_ID.test(r.id)) {
          await rm(path.join(this.o.localDir, r.id), { recursive: true, force: true });
        } else if (!this.o.localDir) {
          // A server's backup disk cannot be emptied through SQL: its S3 lifecycle
          // rule (ops/clickhouse/config.d/palisade-backups.xml) removes the files;
          // the registry stops offering the backup for restore either way.
          this.o.logger.warn({ backupId: r.id }, 'backup expired: its files go by the backup disk\'s lifecycle rule');
        }
        await this.registry.write({ ...r, status: 'expired' });
        gone.push(r.id);
        this.o.audit?.record({ ...auditBase(ctx, r), action: 'backup.expire', outcome: 'ok', details: { reason: r.reason, createdAt: isoFromClickHouse(r.created_at) } });
      }
      return gone;
    });
  }
}

function auditBase(ctx: Ctx, row: Pick<Row, 'id' | 'tenant_id'>): Omit<AuditInput, 'action' | 'outcome'> {
  return { actor: ctx.actor, tenantId: row.tenant_id, target: row.id, clientIp: ctx.clientIp, requestId: ctx.requestId };
}
