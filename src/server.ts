/**
 * The composition root: builds every client once and hands them in. Start-up
 * order matters: secrets → TLS → ClickHouse (+ migrations) → spool recovery →
 * key table → flusher → listeners. Nothing listens before the spool has
 * recovered and the key table is loaded.
 */
import path from 'node:path';
import { Registry } from 'prom-client';
import type { Config } from './config/index.ts';
import { AppError, ErrorCode } from './errors/index.ts';
import type { Logger } from './log/index.ts';
import { Authenticator } from './auth/authenticator.ts';
import { KeyTable } from './auth/key-table.ts';
import { ControlPlane } from './control/control-plane.ts';
import { adminActor } from './http/audit-hooks.ts';
import { createAdminApp, createApiApp } from './http/app.ts';
import type { QueryAuditEvent } from './http/routes/query.ts';
import { listenHttp, listenHttps, type Listener } from './http/listen.ts';
import { IngestService } from './ingest/service.ts';
import { WarningsLedger } from './ingest/warnings.ts';
import { QueryService } from './query/service.ts';
import { registerMetrics } from './metrics/metrics.ts';
import { registerOpsMetrics } from './metrics/ops-metrics.ts';
import { registerStageMetrics, registerStateMetrics } from './metrics/stage-metrics.ts';
import { observedWarehouse } from './storage/observed-warehouse.ts';
import { registerAnomalyMetrics } from './metrics/anomaly-metrics.ts';
import { AccessWatch, ANOMALY_KINDS } from './anomaly/watch.ts';
import { anomalyReporter } from './anomaly/report.ts';
import { diagnose } from './ops/doctor.ts';
import { openSecrets, withSecretCredentials } from './secrets/provider.ts';
import { EdgeHardening } from './edge-hardening.ts';
import { createPlainHttpApp } from './http/insecure-transport.ts';
import { Flusher } from './spool/flusher.ts';
import { Spool } from './spool/spool.ts';
import { ChdbWarehouse, loadChdb } from './storage/chdb-warehouse.ts';
import { ClickHouseServerWarehouse } from './storage/clickhouse-warehouse.ts';
import { openRoleWarehouses } from './storage/clickhouse-logins.ts';
import { EventWriter } from './storage/event-writer.ts';
import { Governance } from './ops/governance.ts';
import type { Warehouse } from './storage/warehouse.ts';
import { loadTls } from './tls/certificate.ts';

export interface Running {
  apiPort: number;
  adminPort: number;
  adminToken: string;
  firstStart: boolean;
  warehouse: Warehouse;
  close(): Promise<void>;
}

export async function openWarehouse(config: Config, diskKeyHex: string): Promise<Warehouse> {
  if (config.clickhouse.kind === 'server') return ClickHouseServerWarehouse.open(config.clickhouse);
  return ChdbWarehouse.open({
    path: path.join(config.dataDir, 'clickhouse'),
    database: config.clickhouse.database,
    diskKeyHex,
    backupsPath: path.join(config.dataDir, 'backups'),
    timeoutMs: config.clickhouse.timeoutMs,
  });
}

export async function startPalisade(config: Config, logger: Logger): Promise<Running> {
  // Before anything is written to the data directory: a first start that stops here must
  // not leave a secrets file behind whose admin token was never shown.
  if (config.clickhouse.kind === 'embedded') await loadChdb();
  // Issue 6: the 0600 file, or AWS Secrets Manager (refreshed in the background; a failure here stops start-up).
  const secretsProvider = await openSecrets(config, logger);
  const secrets = secretsProvider.current();
  const created = secretsProvider.created;
  const tls = await loadTls({ dataDir: config.dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile });
  const registry = new Registry();
  // Issue 8: requests, queries, flushes and ClickHouse calls, timed where they happen.
  const stages = registerStageMetrics(registry);
  const credentials = withSecretCredentials(config, secrets);
  const warehouse = observedWarehouse(await openWarehouse(credentials, secrets.diskKeyHex), stages.clickhouse);
  // ops/clickhouse: the query API and the flusher log in as their own users when configured.
  const roles = await openRoleWarehouses(credentials, warehouse).catch(async (err: unknown) => {
    await warehouse.close();
    throw err;
  });
  const ingestWarehouse = roles.ingest === warehouse ? warehouse : observedWarehouse(roles.ingest, stages.clickhouse);
  const queryWarehouse = roles.query === warehouse ? warehouse : observedWarehouse(roles.query, stages.clickhouse);
  if (config.clickhouse.kind === 'embedded' && config.clickhouse.ignoredUsers?.length) {
    logger.warn({ ignored: config.clickhouse.ignoredUsers }, 'ignored without CLICKHOUSE_URL: the embedded engine has no users or row policies');
  }
  // Pending migrations run behind a backup of what they touch (refused if it fails); then the audit chain opens.
  const governance = await Governance.open(config, warehouse, logger).catch(async (err: unknown) => {
    // A refused migration (or its failed backup) stops start-up: close what is open, then say why.
    await roles.close();
    await warehouse.close();
    throw err;
  });
  const applied = governance.migrations.applied;
  if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name), backupId: governance.migrations.backupId }, 'migrations applied');

  const { spool, report } = await Spool.open({
    dir: path.join(config.dataDir, 'spool'),
    keys: new Map(Object.entries(secrets.spoolKeys).map(([id, hex]) => [id, Buffer.from(hex, 'hex')])),
    currentKeyId: secrets.spoolKeyId,
    fsync: config.spool.fsync,
    maxBytes: config.spool.maxBytes,
  });
  if (report.tornTail || report.quarantined > 0) logger.warn({ report }, 'spool recovery found damage');
  if (!config.spool.fsync) logger.warn('PALISADE_SPOOL_FSYNC=false: acknowledged events are NOT durable (benchmark mode)');

  const control = new ControlPlane(warehouse);
  const keys = new KeyTable();
  const edge = new EdgeHardening({ config, keys, logger, warehouse, secrets: secretsProvider, audit: governance.audit });
  // Tenants' edge settings ride with the key table, so the hot path reads no database.
  const refreshKeys = async () => keys.replace(await edge.settings.attach(await control.snapshot()));
  await refreshKeys();
  const keyTimer = setInterval(() => {
    refreshKeys().catch((err: Error) => logger.warn({ errName: err.name }, 'key table refresh failed; keeping the previous table'));
  }, config.auth.keyRefreshMs);
  keyTimer.unref();

  const auth = new Authenticator({ keys, cacheTtlMs: config.auth.cacheTtlMs, argon2Concurrency: config.auth.argon2Concurrency, ...edge.authOptions() });
  const warnings = new WarningsLedger(ingestWarehouse, logger);
  warnings.start();
  const flusher = new Flusher({
    spool,
    writer: new EventWriter(ingestWarehouse),
    warehouse: ingestWarehouse,
    logger,
    intervalMs: config.flush.intervalMs,
    maxRows: config.flush.maxRows,
    backoffMaxMs: config.flush.backoffMaxMs,
    onBatch: stages.flush,
  });
  flusher.start();
  const ingest = new IngestService({ spool, warnings, limits: config.limits, privacy: edge.privacy });
  edge.registerMetrics(registry, { auth, ingest });
  const metrics = registerMetrics(registry, {
    spool: () => spool.stats(),
    spoolMaxBytes: config.spool.maxBytes,
    flusher: () => flusher.status(),
    ingest: () => ({ accepted: ingest.counters.accepted, rejectedByCode: ingest.rejectedByCode }),
    recovery: report,
    warningsDropped: () => warnings.dropped,
  });

  // One query service for tenants and for support-granted operators, so they
  // share one concurrency limiter over the engine's connections.
  const queries = new QueryService({ warehouse: queryWarehouse, limits: config.query, caps: (id) => keys.tenant(id)?.settings?.query, observe: stages.query });
  const gov = governance.attach({
    control,
    auth,
    adminToken: secrets.adminToken,
    adminActor: adminActor(secrets.adminToken),
    refreshKeys,
    // Until the spool holds nothing appended before the call (deletions must see every acknowledged event).
    drain: async (deadlineMs) => {
      const since = Date.now();
      while (Date.now() - since < deadlineMs) {
        const oldest = spool.stats().oldestAppendedAt;
        if (oldest === null || oldest > since) return true;
        await flusher.flushOnce().catch(() => new Promise((r) => setTimeout(r, 100)));
      }
      return false;
    },
    supportQuery: async (tenantId, body) => {
      const o = await queries.run({ tenantId, keyId: 'support', scope: 'query' }, body);
      return { kind: o.kind, rows: o.rows, result: o.result };
    },
    // As the admin login (audit log, settings), under the tenant's caps and fair turn.
    openRead: (tenantId, lane) => queries.openRead(tenantId, lane, warehouse),
  });
  governance.start();

  let draining = false;
  let lastPing = { at: 0, ok: false };
  const warehouseUp = async () => {
    if (Date.now() - lastPing.at > 1_000) lastPing = { at: Date.now(), ok: (await warehouse.ping()).ok };
    return lastPing.ok;
  };
  // Issue 8: certificate expiry, backup recency, ClickHouse up, free disk (ops/prometheus/alerts.yml).
  registerOpsMetrics(registry, { tlsCertPem: tls.cert, backups: () => governance.health().backups, clickhouseUp: warehouseUp, dataDir: config.dataDir });
  // Issue 8: audit chain head and background verification, parts per partition (sampled by the housekeeper), auth cache.
  registerStateMetrics(registry, {
    auditHead: () => governance.audit.head(),
    auditChain: () => governance.chainMonitor.status(),
    parts: () => governance.parts.status().sample,
    authCacheHits: () => auth.counters.cacheHits,
    authKnownClientBypass: () => auth.counters.knownClientBypass,
  });
  // Issue 8: the access anomaly watch, fed by the API app (src/http/middleware/access-watch.ts).
  const anomalies = config.anomaly ? new AccessWatch({ policy: config.anomaly, report: anomalyReporter({ audit: governance.audit, logger }) }) : undefined;
  registerAnomalyMetrics(registry, ANOMALY_KINDS, () => anomalies?.counts ?? {});
  const startedAt = Date.now();
  let apiPort = config.port;
  const edgeDeps = edge.appDeps({ auth, control, refreshKeys, adminActor: adminActor(secrets.adminToken), apiPort: () => config.edge.publicHttpsPort ?? apiPort });
  const deps = {
    logger,
    trustedProxies: config.trustedProxies,
    ingest: {
      auth,
      keys,
      ingest,
      limits: config.limits,
      edgeLimits: edgeDeps.limits,
      accepting: () => {
        if (draining) {
          metrics.refused('draining');
          return new AppError(ErrorCode.UNAVAILABLE, 'shutting down; retry against another edge', { retryAfter: 1 });
        }
        if (spool.isFull()) {
          metrics.refused('spool_full');
          return new AppError(ErrorCode.SPOOL_FULL, 'the local spool is full; retry shortly', { retryAfter: 5 });
        }
        return undefined;
      },
      onAccepted: (p: { keyId: string; tenantId: string }, ip: string, events: number) =>
        governance.audit.noteIngested({ keyId: p.keyId, tenantId: p.tenantId, ip, events }),
    },
    query: {
      auth,
      query: queries,
      dashboardOrigins: config.dashboardOrigins,
      // Metadata only (never the query's names or values): a log line and an audit entry per call.
      onQuery: (e: QueryAuditEvent) => {
        logger.info(e, 'query');
        governance.audit.record({
          actor: e.keyId ? `key:${e.keyId}` : 'anonymous',
          tenantId: e.tenantId,
          action: 'query',
          target: e.kind ?? '',
          outcome: e.outcome === 'ok' ? 'ok' : 'failed',
          clientIp: e.ip,
          requestId: e.requestId,
          details: { kind: e.kind ?? null, rows: e.rows, durationMs: e.durationMs, ...(e.outcome === 'ok' ? {} : { error: e.outcome }) },
        });
      },
    },
    admin: {
      adminToken: secrets.adminToken,
      control,
      refreshKeys,
      health: async () => ({ status: 'ok', keys: keys.size, spool: spool.stats(), flusher: flusher.status(), ...governance.health() }),
      metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
      doctor: () =>
        diagnose({
          warehouse,
          spool: () => spool.stats(),
          spoolMaxBytes: config.spool.maxBytes,
          flusher: () => flusher.status(),
          backups: () => governance.health().backups,
          backupIntervalMs: config.governance.backupIntervalMs,
          audit: () => governance.health().audit,
          auditChain: () => governance.chainMonitor.status(),
          parts: () => governance.parts.status(),
          rateLimited: () => edge.sustainedLimits.longest(),
          dataDir: config.dataDir,
          tlsCertPem: tls.cert,
          startedAt,
        }),
    },
    governance: gov,
    edge: edgeDeps,
    httpMetrics: stages,
    anomaly: anomalies ? { watch: anomalies, countryHeader: config.anomaly?.countryHeader } : undefined,
    ready: async () => {
      const checks = {
        draining,
        clickhouse: await warehouseUp(),
        flusher: flusher.status(),
        spoolFull: spool.isFull(),
        keyTableAgeMs: keys.ageMs,
      };
      return { ready: !draining && checks.clickhouse && checks.flusher.healthy && !checks.spoolFull, checks };
    },
  };

  let api: Listener | undefined;
  let admin: Listener | undefined;
  let plain: Awaited<ReturnType<typeof listenHttp>> | undefined;
  const limits = edge.connectionLimits;
  try {
    api = await listenHttps(createApiApp(deps), { host: config.host, port: config.port, cert: tls.cert, key: tls.key, limits, onParserRefusal: (s) => stages.parserRefusal('api', s) });
    admin = await listenHttps(createAdminApp(deps), { host: config.adminHost, port: config.adminPort, cert: tls.cert, key: tls.key, limits, onParserRefusal: (s) => stages.parserRefusal('admin', s) });
    apiPort = api.port;
    if (config.edge.plainHttp) plain = await listenHttp(createPlainHttpApp(edgeDeps.insecure), { ...config.edge.plainHttp, limits });
  } catch (err) {
    await api?.close();
    await admin?.close();
    await warnings.stop({ timeoutMs: 1_000 });
    await flusher.stop({ deadlineMs: 0 });
    await governance.stop();
    await spool.close();
    await warehouse.close();
    await roles.close();
    throw err;
  }
  secretsProvider.start();
  logger.info({ apiPort: api.port, adminPort: admin.port, httpPort: plain?.port, secrets: secretsProvider.kind, clickhouse: warehouse.kind, clickhouseUsers: warehouse.kind === 'server' ? roles.users : undefined, selfSignedTls: tls.selfSigned }, 'palisade listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // One deadline for the whole shutdown; the last fifth of it (at most 1 s) is
      // kept for closing sockets, the spool and the ClickHouse client.
      const deadline = Date.now() + config.shutdownDeadlineMs;
      const reserve = Math.min(1_000, Math.floor(config.shutdownDeadlineMs / 5));
      draining = true;
      clearInterval(keyTimer);
      // New requests get 503 + Retry-After; requests already admitted finish, so
      // every one that got its 200 has its events in the fsync'd spool.
      const inFlightFinished = (await api?.drain(deadline - reserve)) ?? true;
      const flushed = await flusher.stop({ deadlineMs: Math.max(0, deadline - reserve - Date.now()) });
      await warnings.stop({ timeoutMs: Math.max(100, deadline - reserve - Date.now()) });
      secretsProvider.stop();
      await Promise.all([api?.close(deadline - reserve / 2), admin?.close(deadline - reserve / 2), plain?.close(deadline - reserve / 2)]);
      // The current minute's aggregates and anything still buffered go into the audit log.
      await governance.stop();
      // What did not reach ClickHouse stays in the spool for the next start.
      await spool.close();
      await warehouse.close();
      await roles.close();
      logger.info({ inFlightFinished, drained: flushed.drained, recordsLeftInSpool: flushed.records }, 'palisade stopped');
    })());

  return { apiPort: api.port, adminPort: admin.port, adminToken: secrets.adminToken, firstStart: created, warehouse, close };
}
