/**
 * What on-call reads: the scrape-time metrics of every module (certificate
 * expiry, backups, ClickHouse up, free disk, the audit chain, parts, the
 * edge's limits), readiness, the admin health page and `palisade doctor`'s
 * report. Reads the other modules' state; owns none.
 */
import type { Registry } from 'prom-client';
import { ANOMALY_KINDS } from '../anomaly/watch.ts';
import type { Config } from '../config/index.ts';
import { registerAnomalyMetrics } from '../metrics/anomaly-metrics.ts';
import { registerOpsMetrics } from '../metrics/ops-metrics.ts';
import { registerStateMetrics } from '../metrics/stage-metrics.ts';
import { diagnose, type DoctorReport } from '../ops/doctor.ts';
import type { Module } from '../runner.ts';
import type { EdgeModule } from './edge.ts';
import type { GovernanceModule } from './governance.ts';
import type { IngestionModule } from './ingestion.ts';
import type { WarehouseModule } from './warehouse.ts';
import type { AuditModule } from './audit.ts';

export interface OperationsOptions {
  config: Config;
  registry: Registry;
  tlsCertPem: string;
  warehouse: WarehouseModule;
  audit: AuditModule;
  edge: EdgeModule;
  ingestion: IngestionModule;
  governance: GovernanceModule;
}

export class OperationsModule implements Module {
  readonly name = 'operations';
  private readonly startedAt = Date.now();

  constructor(private readonly o: OperationsOptions) {
    const { registry, edge, ingestion, governance, audit } = o;
    edge.registerMetrics(registry, { ingest: ingestion.service });
    // For the alert rules of ops/prometheus/alerts.yml.
    registerOpsMetrics(registry, { tlsCertPem: o.tlsCertPem, backups: () => governance.health().backups, clickhouseUp: o.warehouse.up, dataDir: o.config.dataDir });
    registerStateMetrics(registry, {
      auditHead: () => audit.audit.head(),
      auditChain: () => governance.chainMonitor.status(),
      parts: () => governance.parts.status().sample,
      authCacheHits: () => edge.auth.counters.cacheHits,
      authKnownClientBypass: () => edge.auth.counters.knownClientBypass,
    });
    registerAnomalyMetrics(registry, ANOMALY_KINDS, () => edge.anomalies?.counts ?? {});
  }

  /** The admin listener's GET /admin/health: every module's part. */
  readonly healthPage = async (): Promise<Record<string, unknown>> => {
    const { edge, ingestion, governance } = this.o;
    return { status: 'ok', ...edge.health(), ...ingestion.health(), ...governance.health() };
  };

  /** Prometheus exposition of the edge's metrics (counts and states, no tenant data). */
  readonly metrics = async (): Promise<{ contentType: string; body: string }> => ({ contentType: this.o.registry.contentType, body: await this.o.registry.metrics() });

  /** /readyz: can this edge accept and deliver events right now? */
  readonly ready = async (): Promise<{ ready: boolean; checks: Record<string, unknown> }> => {
    const { ingestion, edge } = this.o;
    const draining = ingestion.admission.draining;
    const checks = {
      draining,
      clickhouse: await this.o.warehouse.up(),
      flusher: ingestion.flusher.status(),
      spoolFull: ingestion.spool.isFull(),
      keyTableAgeMs: edge.keys.ageMs,
    };
    return { ready: !draining && checks.clickhouse && checks.flusher.healthy && !checks.spoolFull, checks };
  };

  /** What `palisade doctor` reads (GET /admin/doctor). */
  readonly doctor = (): Promise<DoctorReport> => {
    const { config, warehouse, ingestion, governance, edge } = this.o;
    return diagnose({
      warehouse: warehouse.warehouse,
      spool: () => ingestion.spool.stats(),
      spoolMaxBytes: config.spool.maxBytes,
      flusher: () => ingestion.flusher.status(),
      backups: () => governance.health().backups,
      backupIntervalMs: config.governance.backupIntervalMs,
      audit: () => governance.health().audit,
      auditChain: () => governance.chainMonitor.status(),
      parts: () => governance.parts.status(),
      rateLimited: () => edge.sustainedLimits.longest(),
      dataDir: config.dataDir,
      tlsCertPem: this.o.tlsCertPem,
      startedAt: this.startedAt,
    });
  };
}
