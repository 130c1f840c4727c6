/**
 * The audit log and the backup service of this node, and the migrations run
 * behind a backup: shared by `palisade serve` (src/modules/audit.ts) and
 * `palisade migrate`, because migrations run before anything else exists.
 */
import path from 'node:path';
import { AuditLog } from '../audit/audit-log.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { BackupService } from './backup.ts';
import { migrateWithBackup, migrationAudit, type MigrationRun } from './migrate.ts';

/** Backup service and audit log for this node, as `serve` and `migrate` both build them. */
export function buildCore(config: Config, warehouse: Warehouse, logger: Logger): { audit: AuditLog; backups: BackupService } {
  const g = config.governance;
  const audit = new AuditLog({ warehouse, nodeId: g.nodeId, logger, anchorDir: config.dataDir });
  const backups = new BackupService({
    warehouse,
    logger,
    disk: g.backupDisk,
    retentionDays: g.backupRetentionDays,
    // The embedded engine's backup disk lives here (see engineConfigXml), so expired backups can be removed.
    localDir: warehouse.kind === 'embedded' ? path.join(config.dataDir, 'backups', 'encrypted') : undefined,
    audit,
  });
  return { audit, backups };
}

/**
 * Pending migrations behind a backup of what they touch; refuses (throws)
 * when that backup fails. The outcome is audited once the audit table exists.
 */
export async function runMigrations(o: { warehouse: Warehouse; audit: AuditLog; backups: BackupService; logger: Logger; actor: string }): Promise<MigrationRun> {
  const ctx = { actor: o.actor };
  await o.backups.ensureRegistry();
  let run: MigrationRun;
  try {
    run = await migrateWithBackup(o.warehouse, { backups: o.backups, ctx, logger: o.logger });
  } catch (err) {
    try {
      await o.audit.open();
      await o.audit.recordDurable(migrationAudit(ctx, { error: err as Error }));
    } catch {
      o.logger.error('the refused migration could not be audited: the audit table does not exist yet');
    }
    throw err;
  }
  await o.audit.open();
  if (run.applied.length > 0) o.audit.record(migrationAudit(ctx, { run }));
  return run;
}
