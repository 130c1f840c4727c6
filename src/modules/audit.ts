/**
 * Right after the warehouse: pending migrations run behind a backup of what
 * they touch (refused if that backup fails), then the audit log and the
 * backup registry open. Stopped late (it is near the start of the list), so
 * everything that records an audit entry has stopped before its last write.
 */
import type { AuditLog } from '../audit/audit-log.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { BackupService } from '../ops/backup.ts';
import { buildCore, runMigrations } from '../ops/governance.ts';
import { requireMigrated, type MigrationRun } from '../ops/migrate.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module } from '../runner.ts';

export interface AuditModule extends Module {
  audit: AuditLog;
  backups: BackupService;
  migrations: MigrationRun;
}

export async function openAuditModule(config: Config, warehouse: Warehouse, logger: Logger): Promise<AuditModule> {
  const { audit, backups } = buildCore(config, warehouse, logger);
  let migrations: MigrationRun;
  if (config.clickhouse.migrateOnStart) migrations = await runMigrations({ warehouse, audit, backups, logger, actor: 'system' });
  else {
    // A cluster's edges: `palisade migrate` ran once; refuse to start on a schema behind this code.
    migrations = await requireMigrated(warehouse);
    await audit.open();
  }
  await backups.load();
  if (migrations.applied.length > 0) logger.info({ migrations: migrations.applied.map((m) => m.name), backupId: migrations.backupId }, 'migrations applied');
  return {
    name: 'audit',
    audit,
    backups,
    migrations,
    start: () => audit.start(),
    // The current minute's aggregates and anything still buffered go into the audit log.
    stop: () => audit.stop().catch((err: Error) => logger.warn({ errName: err.name }, 'audit entries left unwritten at shutdown')),
  };
}
