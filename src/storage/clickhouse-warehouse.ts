/**
 * A ClickHouse server or cluster through the official client over HTTP(S).
 * Retry decisions branch on ClickHouse's numeric error code, never on text.
 */
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  classifyCode,
  insertStatement,
  withTimeoutSetting,
  WarehouseError,
  type CallOptions,
  type InsertOptions,
  type Warehouse,
} from './warehouse.ts';

export interface ClickHouseServerOptions {
  url: string;
  user: string;
  password: string;
  database: string;
  timeoutMs: number;
  /**
   * Run `CREATE DATABASE IF NOT EXISTS` first (default true). False for the
   * query and ingest logins (ops/clickhouse): they may not create anything,
   * and the admin connection has already done it.
   */
  createDatabase?: boolean;
  /** PALISADE_CLICKHOUSE_CLUSTER: the database is created ON CLUSTER and inserts into Distributed tables are synchronous. */
  cluster?: string;
  /**
   * A login that never writes (the query user): it sends no insert session
   * setting, which its readonly profile would refuse (code 164).
   */
  readonly?: boolean;
}

/**
 * On a cluster an INSERT into a Distributed table returns, by default, once
 * the rows are queued on the node that took it, and are sent to their shard
 * later. The flusher checkpoints the spool when the INSERT returns, so an
 * acknowledged event would then live only in that node's queue. Foreground
 * inserts return once every shard (one replica each) has written the rows.
 * `distributed_foreground_insert` is the current name (alias: insert_distributed_sync).
 */
export const CLUSTER_SESSION_SETTINGS = { distributed_foreground_insert: 1 } as const;

function wrap(err: unknown, what: string): WarehouseError {
  if (err instanceof ClickHouseError) {
    const code = Number(err.code);
    // The client strips ClickHouse's "Code: N. DB::Exception:" prefix and "(NAME)" suffix;
    // put them back so a message (e.g. a dead letter's reason) reads the same as from chDB.
    const message = `Code: ${err.code}. DB::Exception: ${err.message.trim()} (${err.type})`;
    return new WarehouseError(`${what}: ${message}`, classifyCode(Number.isFinite(code) ? code : undefined), code, {
      cause: err,
    });
  }
  // Connection refused, reset, timed out: the server is not there right now.
  const message = err instanceof Error ? err.message : String(err);
  return new WarehouseError(`${what}: ${message}`, 'unavailable', undefined, { cause: err });
}

type ClickHouseSettings = NonNullable<Parameters<ClickHouseClient['query']>[0]['clickhouse_settings']>;

export class ClickHouseServerWarehouse implements Warehouse {
  readonly kind = 'server' as const;
  readonly database: string;
  readonly cluster: string | undefined;

  private constructor(
    private readonly client: ClickHouseClient,
    database: string,
    private readonly timeoutMs: number,
    cluster?: string,
  ) {
    this.database = database;
    this.cluster = cluster;
  }

  static async open(o: ClickHouseServerOptions): Promise<ClickHouseServerWarehouse> {
    // The client's own logger prints ClickHouse's error text to stderr, and a parse
    // error quotes the row (tenant data). Every failure reaches our logger through
    // wrap() instead, where callers log codes only.
    const log = { level: ClickHouseLogLevel.OFF };
    if (o.createDatabase !== false) {
      const bootstrap = createClient({ url: o.url, username: o.user, password: o.password, request_timeout: o.timeoutMs, log });
      try {
        await createDatabase(bootstrap, o);
      } catch (err) {
        throw wrap(err, 'creating the database');
      } finally {
        await bootstrap.close();
      }
    }
    const client = createClient({
      url: o.url,
      username: o.user,
      password: o.password,
      database: o.database,
      request_timeout: o.timeoutMs,
      log,
      clickhouse_settings: {
        date_time_input_format: 'best_effort',
        // chDB prints 64-bit integers in JSON as numbers; a server quotes them by
        // default. One behaviour for both adapters: numbers (counts stay far below 2^53).
        output_format_json_quote_64bit_integers: 0,
        ...(o.cluster && !o.readonly ? CLUSTER_SESSION_SETTINGS : {}),
      },
    });
    return new ClickHouseServerWarehouse(client, o.database, o.timeoutMs, o.cluster);
  }

  async query<T>(sql: string, options: CallOptions = {}): Promise<T[]> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    try {
      const rs = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        query_params: options.params,
        clickhouse_settings: withTimeoutSetting(options.settings, timeoutMs) as ClickHouseSettings,
        abort_signal: AbortSignal.timeout(timeoutMs),
      });
      return await rs.json<T>();
    } catch (err) {
      throw wrap(err, 'query');
    }
  }

  async command(sql: string, options: CallOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    // An ON CLUSTER statement waits for every host up to distributed_ddl_task_timeout (180 s by
    // default); make that the caller's deadline, so a 30-minute deletion is not reported failed at 3 minutes.
    const settings = this.cluster ? { distributed_ddl_task_timeout: Math.ceil(timeoutMs / 1000), ...options.settings } : options.settings;
    try {
      await this.client.command({
        query: sql,
        query_params: options.params,
        clickhouse_settings: settings as ClickHouseSettings,
        abort_signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw wrap(err, 'command');
    }
  }

  /**
   * The payload is already the JSON lines of its format, so it goes through `exec` as the
   * request body. `client.insert` would JSON-encode each chunk of a stream as a
   * row: a Buffer became `{"type":"Buffer","data":[…]}`, which a server that
   * skips unknown fields (the default) stored as one empty row, losing the batch.
   */
  async insertJson(table: string, payload: Buffer, options: InsertOptions = {}): Promise<void> {
    const query = insertStatement(table, options);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    try {
      const { stream } = await this.client.exec({
        query,
        values: Readable.from([payload], { objectMode: false }),
        clickhouse_settings: options.settings as ClickHouseSettings,
        abort_signal: AbortSignal.timeout(timeoutMs),
      });
      // Read the (empty) response to the end so the socket goes back to the pool.
      stream.resume();
      await finished(stream);
    } catch (err) {
      throw wrap(err, `insert into ${table}`);
    }
  }

  async ping(): Promise<{ ok: boolean; version?: string }> {
    try {
      const rows = await this.query<{ v: string }>('SELECT version() AS v', { timeoutMs: 5_000 });
      return { ok: true, version: rows[0]?.v };
    } catch {
      return { ok: false };
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * Single node: CREATE DATABASE IF NOT EXISTS. Cluster: ON CLUSTER, but only
 * when this node lacks it, because an ON CLUSTER statement waits for every
 * host: an edge must not hang at start because one ClickHouse host is down.
 */
async function createDatabase(client: ClickHouseClient, o: ClickHouseServerOptions): Promise<void> {
  if (o.cluster) {
    const rs = await client.query({ query: 'SELECT count() AS n FROM system.databases WHERE name = {db:String}', query_params: { db: o.database }, format: 'JSONEachRow' });
    const rows = await rs.json<{ n: number | string }>();
    if (Number(rows[0]?.n ?? 0) > 0) return;
  }
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS \`${o.database}\`${o.cluster ? ` ON CLUSTER \`${o.cluster}\`` : ''}` });
}
