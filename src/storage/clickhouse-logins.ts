/**
 * Least privilege on a ClickHouse server (ops/clickhouse/).
 * Palisade's own connection (CLICKHOUSE_USER) runs migrations, the control
 * plane, the audit log, retention, deletion and backups. Two more logins are
 * optional:
 * - CLICKHOUSE_QUERY_USER: the query API (tenants' and support-granted
 *   queries), a readonly user fenced by a row policy on the tenant setting;
 * - CLICKHOUSE_INGEST_USER: the flusher, dead letters and the warnings ledger,
 *   INSERT-only plus the duplicate check's three columns.
 * Unset, that work runs on the main connection, as before. The embedded
 * engine has no users: there every role is the one chDB connection.
 */
import { ConfigError, type ClickHouseLogin, type Config } from '../config/index.ts';
import { WarehouseError, type Warehouse } from './warehouse.ts';

export interface RoleWarehouses {
  /** The flusher, dead letters, the ingestion-warnings ledger. */
  ingest: Warehouse;
  /** The query service. */
  query: Warehouse;
  /** Who each role logs in as (for the start-up log line; never a password). */
  users: { admin: string; ingest: string; query: string };
  /** Closes the extra connections (not the main one). */
  close(): Promise<void>;
}

async function openLogin(ch: Extract<Config['clickhouse'], { kind: 'server' }>, login: ClickHouseLogin, variable: string, role: 'query' | 'ingest'): Promise<Warehouse> {
  const { ClickHouseServerWarehouse } = await import('./clickhouse-warehouse.ts');
  const wh = await ClickHouseServerWarehouse.open({ ...ch, readonly: role === 'query', user: login.user, password: login.password, createDatabase: false });
  try {
    // Fail at start, not on the first query or flush: a wrong password or a
    // user never created (ops/clickhouse/*-user.sql) is a configuration error.
    await wh.query('SELECT 1', { timeoutMs: 5_000 });
  } catch (err) {
    await wh.close();
    const code = err instanceof WarehouseError ? err.clickhouseCode : undefined;
    throw new ConfigError(
      `invalid configuration:\n  ${variable}: ClickHouse refused a query as ${login.user} (${code === undefined ? 'unreachable' : `code ${code}`}); ` +
        `create the user with ops/clickhouse/ (see its README) or fix ${variable.replace(/_USER$/, '_PASSWORD')}`,
      { cause: err },
    );
  }
  return wh;
}

export async function openRoleWarehouses(config: Config, main: Warehouse): Promise<RoleWarehouses> {
  const ch = config.clickhouse;
  if (ch.kind === 'embedded') {
    return { ingest: main, query: main, users: { admin: 'default', ingest: 'default', query: 'default' }, close: async () => undefined };
  }
  const opened: Warehouse[] = [];
  try {
    const query = ch.queryUser ? await openLogin(ch, ch.queryUser, 'CLICKHOUSE_QUERY_USER', 'query') : main;
    if (query !== main) opened.push(query);
    const ingest = ch.ingestUser ? await openLogin(ch, ch.ingestUser, 'CLICKHOUSE_INGEST_USER', 'ingest') : main;
    if (ingest !== main) opened.push(ingest);
    return {
      ingest,
      query,
      users: { admin: ch.user, ingest: ch.ingestUser?.user ?? ch.user, query: ch.queryUser?.user ?? ch.user },
      close: async () => {
        await Promise.all(opened.map((w) => w.close()));
      },
    };
  } catch (err) {
    await Promise.all(opened.map((w) => w.close()));
    throw err;
  }
}
