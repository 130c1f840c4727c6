/**
 * Governance: retention, deletion on request (and its re-application after a
 * restore), support grants, the housekeeper that runs scheduled backups and
 * retention, and the background check of the audit chain. The audit log and
 * the backup service themselves open earlier (modules/audit.ts), right after
 * the migrations.
 */
import { AuditTrail } from '../audit/audit-trail.ts';
import { AuditChainMonitor, type ChainMonitorStatus } from '../audit/chain-monitor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Config } from '../config/index.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { SupportGrants } from '../control/support-grants.ts';
import type { GovernanceDeps, SupportQueryOutcome } from '../http/routes/governance-common.ts';
import type { Logger } from '../log/index.ts';
import type { BackupService, BackupStatus } from '../ops/backup.ts';
import { DeletionService } from '../ops/deletion.ts';
import { freeBytes } from '../ops/disk.ts';
import { Housekeeper } from '../ops/housekeeping.ts';
import { planMigrations } from '../ops/migrate.ts';
import { PartsSampler } from '../ops/parts.ts';
import { RetentionService } from '../ops/retention.ts';
import { TenantExports, type OpenTenantRead } from '../ops/tenant-export.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module } from '../runner.ts';

export interface GovernanceOptions {
  config: Config;
  logger: Logger;
  warehouse: Warehouse;
  audit: AuditLog;
  backups: BackupService;
  control: ControlPlane;
  auth: Authenticator;
  adminToken: string;
  adminActor: string;
  refreshKeys: () => Promise<void>;
  /** Until the spool holds nothing appended before the call (deletions must see every acknowledged event). */
  flushAcknowledged: (deadlineMs: number) => Promise<boolean>;
  supportQuery: (tenantId: string, body: unknown) => Promise<SupportQueryOutcome>;
  /** Tenant reads of the audit trail and exports under the tenant's query caps and fair turn (QueryService.openRead). */
  openRead?: OpenTenantRead;
}

export class GovernanceModule implements Module {
  readonly name = 'governance';
  readonly retention: RetentionService;
  readonly deletions: DeletionService;
  readonly grants: SupportGrants;
  /** This node's audit chain, verified in the background (palisade_audit_chain_*). */
  readonly chainMonitor: AuditChainMonitor;
  /** Active parts per partition, sampled by the housekeeper (palisade_clickhouse_*parts*). */
  readonly parts: PartsSampler;
  private readonly housekeeper: Housekeeper;

  constructor(private readonly o: GovernanceOptions) {
    const { config, warehouse, logger, audit, backups } = o;
    const g = config.governance;
    this.chainMonitor = new AuditChainMonitor({ warehouse, nodeId: audit.nodeId, anchorDir: config.dataDir, logger });
    this.parts = new PartsSampler(warehouse);
    this.deletions = new DeletionService({ warehouse, backups, control: o.control, logger, audit, drain: o.flushAcknowledged, refreshKeys: o.refreshKeys });
    this.retention = new RetentionService({ warehouse, control: o.control, backups, audit, logger });
    this.grants = new SupportGrants(warehouse);
    backups.onRestore(async ({ since, tenantId }) => {
      const n = await this.deletions.reapply({ since, tenantId });
      await this.retention.enforceAll(tenantId);
      return n;
    });
    this.housekeeper = new Housekeeper({
      backups,
      retention: this.retention,
      deletions: this.deletions,
      logger,
      backupIntervalMs: g.backupIntervalMs,
      verifyScheduledBackups: g.verifyScheduledBackups,
      // A scheduled backup's scratch restore needs room on the embedded engine's disk.
      scratchFreeBytes: warehouse.kind === 'embedded' ? () => freeBytes(config.dataDir) : undefined,
      intervalMs: g.housekeepingIntervalMs,
      backupRetentionDays: g.backupRetentionDays,
      parts: this.parts,
    });
  }

  /** What the governance routes (audit, backups, retention, deletion, support access) are handed. */
  appDeps(): GovernanceDeps {
    const o = this.o;
    return {
      adminToken: o.adminToken,
      adminActor: o.adminActor,
      audit: o.audit,
      trail: new AuditTrail(o.warehouse, o.config.dataDir, o.openRead),
      exports: new TenantExports(o.warehouse, o.control, o.openRead),
      migrationPlan: () => planMigrations(o.warehouse),
      control: o.control,
      backups: o.backups,
      retention: this.retention,
      deletions: this.deletions,
      grants: this.grants,
      auth: o.auth,
      supportQuery: o.supportQuery,
      refreshKeys: o.refreshKeys,
    };
  }

  start(): void {
    this.housekeeper.start();
    this.chainMonitor.start();
  }

  health(): { backups: BackupStatus; audit: { nodeId: string; seq: number; hash: string }; auditChain: ChainMonitorStatus } {
    const audit = this.o.audit;
    return { backups: this.o.backups.status(), audit: { nodeId: audit.nodeId, ...audit.head() }, auditChain: this.chainMonitor.status() };
  }

  async stop(): Promise<void> {
    await this.housekeeper.stop();
    await this.chainMonitor.stop();
  }
}
