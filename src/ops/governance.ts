/**
 * Issue 5's pieces, built once in the composition root: the audit log,
 * backups (scheduled and before every risky change), retention, deletion on
 * request and support grants. Two phases, because migrations run before
 * anything else exists: `open` right after the warehouse (migrations behind
 * a backup, then the audit chain), `attach` once the control plane, key
 * table and flusher are up.
 */
import { statfsSync } from 'node:fs';
import path from 'node:path';
import type { Authenticator } from '../auth/authenticator.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import { AuditChainMonitor, type ChainMonitorStatus } from '../audit/chain-monitor.ts';
import type { Config } from '../config/index.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { SupportGrants } from '../control/support-grants.ts';
import type { GovernanceDeps, SupportQueryOutcome } from '../http/routes/governance-common.ts';
import type { Logger } from '../log/index.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { BackupService, type BackupStatus } from './backup.ts';
import { DeletionService } from './deletion.ts';
import { Housekeeper } from './housekeeping.ts';
import { migrateWithBackup, migrationAudit, planMigrations, requireMigrated, type MigrationRun } from './migrate.ts';
import { PartsSampler } from './parts.ts';
import { RetentionService } from './retention.ts';
import { TenantExports } from './tenant-export.ts';

export interface AttachOptions {
  control: ControlPlane;
  auth: Authenticator;
  adminToken: string;
  adminActor: string;
  refreshKeys: () => Promise<void>;
  drain: (deadlineMs: number) => Promise<boolean>;
  supportQuery: (tenantId: string, body: unknown) => Promise<SupportQueryOutcome>;
}

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

export class Governance {
  private housekeeper: Housekeeper | undefined;
  deps: GovernanceDeps | undefined;
  /** Issue 8: this node's audit chain, verified in the background (palisade_audit_chain_*). */
  readonly chainMonitor: AuditChainMonitor;
  /** Issue 8: active parts per partition, sampled by the housekeeper (palisade_clickhouse_*parts*). */
  readonly parts: PartsSampler;

  private constructor(
    private readonly config: Config,
    private readonly warehouse: Warehouse,
    private readonly logger: Logger,
    readonly audit: AuditLog,
    readonly backups: BackupService,
    readonly migrations: MigrationRun,
  ) {
    this.chainMonitor = new AuditChainMonitor({ warehouse, nodeId: audit.nodeId, anchorDir: config.dataDir, logger });
    this.parts = new PartsSampler(warehouse);
  }

  static async open(config: Config, warehouse: Warehouse, logger: Logger): Promise<Governance> {
    const { audit, backups } = buildCore(config, warehouse, logger);
    let migrations: MigrationRun;
    if (config.clickhouse.migrateOnStart) migrations = await runMigrations({ warehouse, audit, backups, logger, actor: 'system' });
    else {
      // A cluster's edges: `palisade migrate` ran once; refuse to start on a schema behind this code.
      migrations = await requireMigrated(warehouse);
      await audit.open();
    }
    await backups.load();
    return new Governance(config, warehouse, logger, audit, backups, migrations);
  }

  attach(o: AttachOptions): GovernanceDeps {
    const { warehouse, logger, audit, backups } = this;
    const deletions = new DeletionService({ warehouse, backups, control: o.control, logger, audit, drain: o.drain, refreshKeys: o.refreshKeys });
    const retention = new RetentionService({ warehouse, control: o.control, backups, audit, logger });
    backups.onRestore(async ({ since, tenantId }) => {
      const n = await deletions.reapply({ since, tenantId });
      await retention.enforceAll(tenantId);
      return n;
    });
    const g = this.config.governance;
    this.housekeeper = new Housekeeper({
      backups,
      retention,
      deletions,
      logger,
      backupIntervalMs: g.backupIntervalMs,
      verifyScheduledBackups: g.verifyScheduledBackups,
      scratchFreeBytes:
        warehouse.kind === 'embedded'
          ? () => {
              const s = statfsSync(this.config.dataDir);
              return s.bavail * s.bsize;
            }
          : undefined,
      intervalMs: g.housekeepingIntervalMs,
      backupRetentionDays: g.backupRetentionDays,
      parts: this.parts,
    });
    this.deps = {
      adminToken: o.adminToken,
      adminActor: o.adminActor,
      audit,
      trail: new AuditTrail(warehouse, this.config.dataDir),
      exports: new TenantExports(warehouse, o.control),
      migrationPlan: () => planMigrations(warehouse),
      control: o.control,
      backups,
      retention,
      deletions,
      grants: new SupportGrants(warehouse),
      auth: o.auth,
      supportQuery: o.supportQuery,
      refreshKeys: o.refreshKeys,
    };
    return this.deps;
  }

  start(): void {
    this.audit.start();
    this.housekeeper?.start();
    this.chainMonitor.start();
  }

  health(): { backups: BackupStatus; audit: { nodeId: string; seq: number; hash: string }; auditChain: ChainMonitorStatus } {
    return { backups: this.backups.status(), audit: { nodeId: this.audit.nodeId, ...this.audit.head() }, auditChain: this.chainMonitor.status() };
  }

  async stop(): Promise<void> {
    await this.housekeeper?.stop();
    await this.chainMonitor.stop();
    await this.audit.stop().catch((err: Error) => this.logger.warn({ errName: err.name }, 'audit entries left unwritten at shutdown'));
  }
}
