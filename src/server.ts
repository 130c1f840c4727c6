/**
 * The composition root: builds every client once and hands them in. Start-up
 * order matters: secrets → TLS → ClickHouse (+ migrations) → spool recovery →
 * key table → flusher → listeners. Nothing listens before the spool has
 * recovered and the key table is loaded.
 */
import path from 'node:path';
import type { Config } from './config/index.ts';
import { AppError, ErrorCode } from './errors/index.ts';
import type { Logger } from './log/index.ts';
import { Authenticator } from './auth/authenticator.ts';
import { KeyTable } from './auth/key-table.ts';
import { ControlPlane } from './control/control-plane.ts';
import { createAdminApp, createApiApp } from './http/app.ts';
import { listenHttps, type Listener } from './http/listen.ts';
import { IngestService } from './ingest/service.ts';
import { WarningsLedger } from './ingest/warnings.ts';
import { loadOrCreateSecrets } from './secrets/file-secrets.ts';
import { Flusher } from './spool/flusher.ts';
import { Spool } from './spool/spool.ts';
import { ChdbWarehouse } from './storage/chdb-warehouse.ts';
import { ClickHouseServerWarehouse } from './storage/clickhouse-warehouse.ts';
import { EventWriter } from './storage/event-writer.ts';
import { migrate } from './storage/migrations.ts';
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
  const { secrets, created } = await loadOrCreateSecrets(config.dataDir);
  const tls = await loadTls({ dataDir: config.dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile });
  const warehouse = await openWarehouse(config, secrets.diskKeyHex);
  const applied = await migrate(warehouse);
  if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');

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
  const refreshKeys = async () => keys.replace(await control.snapshot());
  await refreshKeys();
  const keyTimer = setInterval(() => {
    refreshKeys().catch((err: Error) => logger.warn({ errName: err.name }, 'key table refresh failed; keeping the previous table'));
  }, config.auth.keyRefreshMs);
  keyTimer.unref();

  const auth = new Authenticator({ keys, cacheTtlMs: config.auth.cacheTtlMs, argon2Concurrency: config.auth.argon2Concurrency });
  const warnings = new WarningsLedger(warehouse, logger);
  warnings.start();
  const flusher = new Flusher({
    spool,
    writer: new EventWriter(warehouse),
    warehouse,
    logger,
    intervalMs: config.flush.intervalMs,
    maxRows: config.flush.maxRows,
  });
  flusher.start();
  const ingest = new IngestService({ spool, warnings, limits: config.limits });

  let draining = false;
  let lastPing = { at: 0, ok: false };
  const warehouseUp = async () => {
    if (Date.now() - lastPing.at > 1_000) lastPing = { at: Date.now(), ok: (await warehouse.ping()).ok };
    return lastPing.ok;
  };
  const deps = {
    logger,
    trustedProxies: config.trustedProxies,
    ingest: {
      auth,
      keys,
      ingest,
      limits: config.limits,
      accepting: () => {
        if (draining) return new AppError(ErrorCode.UNAVAILABLE, 'shutting down; retry against another edge', { retryAfter: 1 });
        if (spool.isFull()) return new AppError(ErrorCode.SPOOL_FULL, 'the local spool is full; retry shortly', { retryAfter: 5 });
        return undefined;
      },
    },
    admin: {
      adminToken: secrets.adminToken,
      control,
      refreshKeys,
      health: async () => ({ status: 'ok', keys: keys.size, spool: spool.stats(), flusher: flusher.status() }),
    },
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
  try {
    api = await listenHttps(createApiApp(deps), { host: config.host, port: config.port, cert: tls.cert, key: tls.key });
    admin = await listenHttps(createAdminApp(deps), { host: config.adminHost, port: config.adminPort, cert: tls.cert, key: tls.key });
  } catch (err) {
    await api?.close();
    await flusher.stop({ deadlineMs: 0 });
    await spool.close();
    await warehouse.close();
    throw err;
  }
  logger.info({ apiPort: api.port, adminPort: admin.port, clickhouse: warehouse.kind, selfSignedTls: tls.selfSigned }, 'palisade listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      clearInterval(keyTimer);
      // Stop accepting; in-flight requests finish (their spool appends complete).
      await Promise.all([api?.close(), admin?.close()]);
      await flusher.stop({ deadlineMs: config.shutdownDeadlineMs });
      await warnings.stop();
      await spool.close();
      await warehouse.close();
      logger.info('palisade stopped');
    })());

  return { apiPort: api.port, adminPort: admin.port, adminToken: secrets.adminToken, firstStart: created, warehouse, close };
}
