/**
 * Ingestion: the write-ahead spool (recovered before anything listens), the
 * request lane's service (pipeline → spool, the only place that
 * acknowledges), the admission check, the tenants' warnings ledger and the
 * flusher that moves the spool into ClickHouse (the flush lane).
 */
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import { Admission } from '../ingest/admission.ts';
import { IngestService } from '../ingest/service.ts';
import type { TenantPrivacy } from '../ingest/tenant-privacy.ts';
import { WarningsLedger } from '../ingest/warnings.ts';
import type { Logger } from '../log/index.ts';
import { registerMetrics } from '../metrics/metrics.ts';
import type { StageMetrics } from '../metrics/stage-metrics.ts';
import type { ServiceSecrets } from '../secrets/file-secrets.ts';
import { Flusher, type FlusherStatus } from '../spool/flusher.ts';
import { Spool, type RecoveryReport, type SpoolStats } from '../spool/spool.ts';
import { EventWriter } from '../storage/event-writer.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module, StopBudget } from '../runner.ts';

export interface IngestionOptions {
  config: Config;
  logger: Logger;
  secrets: ServiceSecrets;
  /** The flusher's and the ledger's login (INSERT only on a server). */
  warehouse: Warehouse;
  privacy: TenantPrivacy;
  registry: Registry;
  stages: Pick<StageMetrics, 'flush' | 'groupCommit'>;
}

// While deletions wait for the spool to empty and the flusher fails, try again this often.
const FLUSH_RETRY_MS = 100;

export class IngestionModule implements Module {
  readonly name = 'ingestion';
  readonly warnings: WarningsLedger;
  readonly flusher: Flusher;
  readonly service: IngestService;
  readonly admission: Admission;
  /** What the last shutdown's flush-out left: for the 'palisade stopped' log line. */
  flushedAtStop: { drained: boolean; records: number } | undefined;

  private constructor(
    private readonly o: IngestionOptions,
    readonly spool: Spool,
    readonly recovery: RecoveryReport,
  ) {
    const { config, logger, warehouse } = o;
    this.warnings = new WarningsLedger(warehouse, logger);
    this.flusher = new Flusher({
      spool,
      writer: new EventWriter(warehouse),
      warehouse,
      logger,
      intervalMs: config.flush.intervalMs,
      maxRows: config.flush.maxRows,
      backoffMaxMs: config.flush.backoffMaxMs,
      onBatch: o.stages.flush,
    });
    this.service = new IngestService({ spool, warnings: this.warnings, limits: config.limits, privacy: o.privacy.forRequest });
    const metrics = registerMetrics(o.registry, {
      spool: () => spool.stats(),
      spoolMaxBytes: config.spool.maxBytes,
      flusher: () => this.flusher.status(),
      ingest: () => ({ accepted: this.service.counters.accepted, rejectedByCode: this.service.rejectedByCode }),
      recovery,
      warningsDropped: () => this.warnings.dropped,
    });
    this.admission = new Admission(spool, (reason) => metrics.refused(reason));
  }

  static async open(o: IngestionOptions): Promise<IngestionModule> {
    const { config, logger, secrets } = o;
    const { spool, report } = await Spool.open({
      dir: path.join(config.dataDir, 'spool'),
      keys: new Map(Object.entries(secrets.spoolKeys).map(([id, hex]) => [id, Buffer.from(hex, 'hex')])),
      currentKeyId: secrets.spoolKeyId,
      fsync: config.spool.fsync,
      maxBytes: config.spool.maxBytes,
      onGroupCommit: o.stages.groupCommit,
    });
    if (report.tornTail || report.quarantined > 0) logger.warn({ report }, 'spool recovery found damage');
    if (!config.spool.fsync) logger.warn('PALISADE_SPOOL_FSYNC=false: acknowledged events are NOT durable (benchmark mode)');
    return new IngestionModule(o, spool, report);
  }

  /**
   * Flushes until the spool holds nothing appended before the call: a deletion
   * must see every event acknowledged before it. False when the deadline passed first.
   */
  readonly flushAcknowledged = async (deadlineMs: number): Promise<boolean> => {
    const since = Date.now();
    while (Date.now() - since < deadlineMs) {
      const oldest = this.spool.stats().oldestAppendedAt;
      if (oldest === null || oldest > since) return true;
      await this.flusher.flushOnce().catch(() => new Promise((r) => setTimeout(r, FLUSH_RETRY_MS)));
    }
    return false;
  };

  health(): { spool: SpoolStats; flusher: FlusherStatus } {
    return { spool: this.spool.stats(), flusher: this.flusher.status() };
  }

  start(): void {
    this.warnings.start();
    this.flusher.start();
  }

  async drain(budget: StopBudget): Promise<void> {
    // What did not reach ClickHouse by the deadline stays in the spool for the next start.
    this.flushedAtStop = await this.flusher.stop({ deadlineMs: Math.max(0, budget.drainBy - Date.now()) });
    await this.warnings.stop({ timeoutMs: Math.max(100, budget.drainBy - Date.now()) });
  }

  async stop(): Promise<void> {
    await this.spool.close();
  }
}
