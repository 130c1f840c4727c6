/**
 * The warehouse: the embedded engine or a ClickHouse server, every call timed
 * (palisade_clickhouse_*), plus the query API's and the flusher's own logins
 * when configured (ops/clickhouse: least privilege on a server).
 */
import path from 'node:path';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { StageMetrics } from '../metrics/stage-metrics.ts';
import type { ServiceSecrets } from '../secrets/file-secrets.ts';
import { withSecretCredentials } from '../secrets/provider.ts';
import { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import { openRoleWarehouses, type RoleWarehouses } from '../storage/clickhouse-logins.ts';
import { observedWarehouse } from '../storage/observed-warehouse.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module } from '../runner.ts';

export async function openWarehouse(config: Config, diskKeyHex: string): Promise<Warehouse> {
  // Each engine's client is loaded only when it is the one configured (the embedded default does not load
  // @clickhouse/client; chdb-warehouse loads the 540 MB engine itself, on open).
  if (config.clickhouse.kind === 'server') {
    const { ClickHouseServerWarehouse } = await import('../storage/clickhouse-warehouse.ts');
    return ClickHouseServerWarehouse.open(config.clickhouse);
  }
  return ChdbWarehouse.open({
    path: path.join(config.dataDir, 'clickhouse'),
    database: config.clickhouse.database,
    diskKeyHex,
    backupsPath: path.join(config.dataDir, 'backups'),
    timeoutMs: config.clickhouse.timeoutMs,
  });
}

// /readyz and the clickhouse_up gauge ask often; one ping a second answers them all.
const PING_CACHE_MS = 1_000;

export class WarehouseModule implements Module {
  readonly name = 'warehouse';
  private lastPing = { at: 0, ok: false };

  private constructor(
    /** The admin login: migrations, the control plane, governance. */
    readonly warehouse: Warehouse,
    /** The flusher's and the warnings ledger's login (INSERT only on a server). */
    readonly ingest: Warehouse,
    /** The query API's login (readonly, row policy on a server). */
    readonly query: Warehouse,
    readonly roles: RoleWarehouses,
  ) {}

  static async open(config: Config, secrets: ServiceSecrets, stages: Pick<StageMetrics, 'clickhouse'>, logger: Logger): Promise<WarehouseModule> {
    const credentials = withSecretCredentials(config, secrets);
    const warehouse = observedWarehouse(await openWarehouse(credentials, secrets.diskKeyHex), stages.clickhouse);
    const roles = await openRoleWarehouses(credentials, warehouse).catch(async (err: unknown) => {
      await warehouse.close();
      throw err;
    });
    const own = (w: Warehouse) => (w === warehouse ? warehouse : observedWarehouse(w, stages.clickhouse));
    if (config.clickhouse.kind === 'embedded' && config.clickhouse.ignoredUsers?.length) {
      logger.warn({ ignored: config.clickhouse.ignoredUsers }, 'ignored without CLICKHOUSE_URL: the embedded engine has no users or row policies');
    }
    return new WarehouseModule(warehouse, own(roles.ingest), own(roles.query), roles);
  }

  /** Does ClickHouse answer a ping (cached for a second)? */
  readonly up = async (): Promise<boolean> => {
    if (Date.now() - this.lastPing.at > PING_CACHE_MS) this.lastPing = { at: Date.now(), ok: (await this.warehouse.ping()).ok };
    return this.lastPing.ok;
  };

  async stop(): Promise<void> {
    await this.warehouse.close();
    await this.roles.close();
  }
}
