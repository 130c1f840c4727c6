/**
 * The composition root: the list of modules, in the order they open. Each
 * builds its clients once and is handed what the ones before it opened; the
 * runner (runner.ts) starts them in this order and unwinds them in reverse,
 * on a start-up failure and at shutdown. Nothing listens before the spool has
 * recovered and the key table is loaded: the listeners are last.
 */
import { Registry } from 'prom-client';
import type { Config } from './config/index.ts';
import type { Logger } from './log/index.ts';
import { registerStageMetrics } from './metrics/stage-metrics.ts';
import { openAuditModule } from './modules/audit.ts';
import { EdgeModule } from './modules/edge.ts';
import { GovernanceModule } from './modules/governance.ts';
import { IngestionModule } from './modules/ingestion.ts';
import { ListenersModule } from './modules/listeners.ts';
import { OperationsModule } from './modules/operations.ts';
import { QueryModule } from './modules/query.ts';
import { openSecretsModule } from './modules/secrets.ts';
import { WarehouseModule } from './modules/warehouse.ts';
import { Runner, type StopBudget } from './runner.ts';
import type { Warehouse } from './storage/warehouse.ts';

export interface Running {
  apiPort: number;
  adminPort: number;
  adminToken: string;
  firstStart: boolean;
  warehouse: Warehouse;
  close(): Promise<void>;
}

/** One deadline for the whole shutdown; the last fifth of it (at most 1 s) is kept for closing sockets, the spool and the ClickHouse client. */
export function shutdownBudget(deadlineMs: number, now = Date.now()): StopBudget {
  const deadline = now + deadlineMs;
  const reserve = Math.min(1_000, Math.floor(deadlineMs / 5));
  return { drainBy: deadline - reserve, closeBy: deadline - reserve / 2 };
}

export async function startPalisade(config: Config, logger: Logger): Promise<Running> {
  const runner = new Runner((module, phase, err) => logger.error({ module, phase, errName: (err as Error).name }, 'a module failed to shut down cleanly; going on with the rest'));
  // Requests, queries, flushes and ClickHouse calls, timed where they happen.
  const registry = new Registry();
  const stages = registerStageMetrics(registry);

  const secrets = await runner.open(() => openSecretsModule(config, logger));
  const { adminToken } = secrets.secrets;
  const warehouse = await runner.open(() => WarehouseModule.open(config, secrets.secrets, stages, logger));
  const audit = await runner.open(() => openAuditModule(config, warehouse.warehouse, logger));
  const edge = await runner.open(() => EdgeModule.open({ config, logger, warehouse: warehouse.warehouse, secrets: secrets.provider, adminToken, audit: audit.audit }));
  const ingestion = await runner.open(() => IngestionModule.open({ config, logger, secrets: secrets.secrets, warehouse: warehouse.ingest, privacy: edge.privacy, registry, stages }));
  const query = await runner.open(() => new QueryModule({ config, logger, warehouse: warehouse.query, keys: edge.keys, audit: audit.audit, stages }));
  const governance = await runner.open(
    () =>
      new GovernanceModule({
        config,
        logger,
        warehouse: warehouse.warehouse,
        audit: audit.audit,
        backups: audit.backups,
        control: edge.control,
        auth: edge.auth,
        adminToken,
        adminActor: edge.adminActor,
        refreshKeys: edge.refreshKeys,
        flushAcknowledged: ingestion.flushAcknowledged,
        supportQuery: query.supportQuery,
        // As the admin login (audit log, settings), under the tenant's caps and fair turn.
        openRead: (tenantId, lane) => query.service.openRead(tenantId, lane, warehouse.warehouse),
      }),
  );
  const operations = await runner.open(() => new OperationsModule({ config, registry, tlsCertPem: secrets.tls.cert, warehouse, audit, edge, ingestion, governance }));
  const listeners = await runner.open(() => new ListenersModule({ config, logger, tls: secrets.tls, adminToken, stages, audit, edge, ingestion, query, governance, operations }));
  await runner.start();

  const { api, admin, plain } = listeners;
  if (!api || !admin) {
    await runner.stop(shutdownBudget(0));
    throw new Error('the listeners did not start');
  }
  const wh = warehouse.warehouse;
  logger.info(
    { apiPort: api.port, adminPort: admin.port, httpPort: plain?.port, secrets: secrets.provider.kind, clickhouse: wh.kind, clickhouseUsers: wh.kind === 'server' ? warehouse.roles.users : undefined, selfSignedTls: secrets.tls.selfSigned },
    'palisade listening',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await runner.stop(shutdownBudget(config.shutdownDeadlineMs));
      const flushed = ingestion.flushedAtStop;
      logger.info({ inFlightFinished: listeners.inFlightFinished, drained: flushed?.drained, recordsLeftInSpool: flushed?.records }, 'palisade stopped');
    })());

  return { apiPort: api.port, adminPort: admin.port, adminToken, firstStart: secrets.created, warehouse: wh, close };
}
