/**
 * The embedded default: the ClickHouse engine in this process through chDB.
 * chDB binds one data directory per process, so exactly one of these exists in
 * the server, built in the composition root.
 */
import { hkdfSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Session } from 'chdb';
import { ConfigError } from '../config/index.ts';
import { inlineParams } from './literal-params.ts';
import {
  classifyCode,
  IDENTIFIER,
  insertStatement,
  parseJsonEachRow,
  renderSettings,
  withTimeoutSetting,
  WarehouseError,
  type CallOptions,
  type InsertOptions,
  type Warehouse,
} from './warehouse.ts';

export interface ChdbOptions {
  /** Directory the engine owns. */
  path: string;
  database: string;
  /** 64 hex chars: the AES-256 key of the encrypted disk that holds every table. */
  diskKeyHex: string;
  /** Directory BACKUP … TO File(…) may write to. */
  backupsPath: string;
  timeoutMs: number;
  /**
   * Connections to open on the directory. chDB runs one statement at a time
   * per connection (a 8 s scan held a `SELECT 1` for 8 s here), but several
   * connections on one directory run concurrently and see the same data, so
   * the flusher's inserts never make an admin call or a dashboard query wait.
   */
  connections?: number;
}

interface ChdbLikeError {
  clickhouseCode?: number;
  message?: string;
}

function wrap(err: unknown, what: string): WarehouseError {
  const code = (err as ChdbLikeError)?.clickhouseCode;
  const message = (err as ChdbLikeError)?.message ?? String(err);
  return new WarehouseError(`${what}: ${message}`, classifyCode(code), code, { cause: err });
}

/** The disk `BACKUP … TO Disk(BACKUP_DISK, id)` writes to: encrypted, under backupsPath/encrypted/. */
export const BACKUP_DISK = 'backups';

/**
 * The backups disk has its own AES-256 key, derived from the table disk's key
 * (HKDF-SHA256), so backup files never share a keystream with table files and
 * no new secret has to be stored beside the one that already is.
 */
export function backupKeyHex(diskKeyHex: string): string {
  return Buffer.from(hkdfSync('sha256', Buffer.from(diskKeyHex, 'hex'), Buffer.alloc(0), 'palisade backups disk v1', 32)).toString('hex');
}

/**
 * Background merges run at nice 10: they can wait, a request cannot. Sharing
 * the cores with the request path, they were the single-event load's tail
 * (p99 26–29 ms at nice 0, 22–23 ms at 10, two alternating bench runs each;
 * throughput within 3 %). At nice 10 a merge still gets about a tenth of a
 * core the requests saturate; if merges fall behind for long,
 * palisade_clickhouse_max_parts_per_partition rises and its alert fires well
 * before ClickHouse delays inserts. Needs CAP_SYS_NICE (the engine skips it
 * without).
 */
const MERGE_NICE = 10;

/**
 * Server configuration for the engine: an AES_256_CTR encrypted disk wrapping
 * a local disk, made the default storage policy of every MergeTree table so
 * the migrations need no engine-specific SETTINGS; and a second encrypted
 * disk, the only one BACKUP may write to, so every backup is AES-256 at rest
 * (chDB is built without minizip, so password-protected zip backups are not
 * available).
 */
export function engineConfigXml(o: { enginePath: string; diskKeyHex: string; backupsPath: string }): string {
  if (!/^[0-9a-f]{64}$/.test(o.diskKeyHex)) throw new Error('disk key must be 64 hex characters');
  const plain = path.join(o.enginePath, 'disks', 'plain') + '/';
  return `<clickhouse>
  <storage_configuration>
    <disks>
      <plain><type>local</type><path>${plain}</path></plain>
      <encrypted>
        <type>encrypted</type>
        <disk>plain</disk>
        <path>encrypted/</path>
        <algorithm>AES_256_CTR</algorithm>
        <key_hex id="1">${o.diskKeyHex}</key_hex>
        <current_key_id>1</current_key_id>
      </encrypted>
      <backups_plain><type>local</type><path>${o.backupsPath}/</path></backups_plain>
      <${BACKUP_DISK}>
        <type>encrypted</type>
        <disk>backups_plain</disk>
        <path>encrypted/</path>
        <algorithm>AES_256_CTR</algorithm>
        <key_hex id="1">${backupKeyHex(o.diskKeyHex)}</key_hex>
        <current_key_id>1</current_key_id>
      </${BACKUP_DISK}>
    </disks>
    <policies>
      <encrypted><volumes><main><disk>encrypted</disk></main></volumes></encrypted>
    </policies>
  </storage_configuration>
  <merge_tree><storage_policy>encrypted</storage_policy></merge_tree>
  <backups><allowed_path>${o.backupsPath}/</allowed_path><allowed_disk>${BACKUP_DISK}</allowed_disk></backups>
  <os_threads_nice_value_merge_mutate>${MERGE_NICE}</os_threads_nice_value_merge_mutate>
</clickhouse>
`;
}

/**
 * chdb is an optional dependency: the production image installs without it
 * (`npm ci --omit=optional`, ~540 MB less) and runs against a ClickHouse
 * server, so it is loaded only when the embedded engine is wanted. Without it
 * the caller gets a ConfigError (the CLI prints one line and exits 2).
 */
export async function loadChdb(): Promise<typeof import('chdb')> {
  try {
    return await import('chdb');
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes("'chdb'")) {
      throw new ConfigError(
        'embedded_engine_missing: the embedded ClickHouse engine is not installed: install chdb or set CLICKHOUSE_URL (`npm install chdb`, or the URL of a ClickHouse server)',
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * The engine pauses a statement of a lower priority (a higher number) while
 * one of a higher priority runs. Our own reads and inserts (the flusher's
 * lookups and inserts, key refreshes, the control plane) run at 1, first;
 * a tenant read sets its own (src/query/engine-priority.ts: 2 for exports
 * and heavy tenants), so a tenant's scan yields to the flush path. Not on
 * `command`: a trailing SETTINGS on DDL can mean table settings.
 */
const SYSTEM_PRIORITY = { priority: 1 };

interface Slot {
  session: Session;
  busy: number;
}

export class ChdbWarehouse implements Warehouse {
  readonly kind = 'embedded' as const;
  readonly database: string;
  private constructor(
    private readonly slots: Slot[],
    database: string,
    private readonly timeoutMs: number,
  ) {
    this.database = database;
  }

  static async open(o: ChdbOptions): Promise<ChdbWarehouse> {
    const { Session } = await loadChdb();
    await mkdir(o.path, { recursive: true, mode: 0o700 });
    await mkdir(o.backupsPath, { recursive: true, mode: 0o700 });
    const configFile = path.join(o.path, 'engine-config.xml');
    // 0600: the file carries the disk key, like the secrets file it comes from.
    await writeFile(configFile, engineConfigXml({ enginePath: o.path, diskKeyHex: o.diskKeyHex, backupsPath: o.backupsPath }), {
      mode: 0o600,
    });
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < Math.max(1, o.connections ?? 4); i++) {
        const session = new Session(o.path, { connectionArgs: [`--config-file=${configFile}`] });
        slots.push({ session, busy: 0 });
        if (i === 0) await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(o.database)}`);
        // USE is sticky for the connection, so every later statement is unqualified.
        await session.queryAsync(`USE ${quoteIdent(o.database)}`);
      }
    } catch (err) {
      for (const s of slots) s.session.close();
      throw wrap(err, 'opening the embedded ClickHouse engine');
    }
    return new ChdbWarehouse(slots, o.database, o.timeoutMs);
  }

  /** The least busy connection; ties go to the first, so a quiet server uses one. */
  private async withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    let slot = this.slots[0] as Slot;
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    slot.busy++;
    try {
      return await fn(slot.session);
    } finally {
      slot.busy--;
    }
  }

  async query<T>(sql: string, options: CallOptions = {}): Promise<T[]> {
    const settings = { ...SYSTEM_PRIORITY, ...options.settings };
    const text = await this.run(`${sql}${renderSettings(withTimeoutSetting(settings, options.timeoutMs ?? this.timeoutMs))}`, options, 'JSONEachRow');
    return parseJsonEachRow<T>(text);
  }

  async command(sql: string, options: CallOptions = {}): Promise<void> {
    await this.run(`${sql}${renderSettings(options.settings)}`, options, 'TSV');
  }

  async insertJson(table: string, payload: Buffer, options: InsertOptions = {}): Promise<void> {
    insertStatement(table, options); // the same checks of the names as the server adapter's statement
    try {
      await this.withSession((session) =>
        session.insert({
          table,
          values: payload,
          format: options.format ?? 'JSONEachRow',
          ...(options.columns ? { columns: options.columns } : {}),
          settings: { ...SYSTEM_PRIORITY, ...options.settings },
          timeout: options.timeoutMs ?? this.timeoutMs,
        }),
      );
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

  /**
   * The engine runs each statement on a libuv thread and cannot interrupt it:
   * a session closed under one defers its teardown until it ends, and a
   * process that exits before then destroys the engine under the running
   * statement (a segfault in libchdb.so at shutdown). So this returns only
   * once nothing runs on the engine and every deferred teardown is done.
   */
  async close(): Promise<void> {
    for (const s of this.slots) s.session.close();
    const chdb = (await loadChdb()) as typeof import('chdb') & { drainPending(): Promise<void> };
    await chdb.drainPending();
  }

  private async run(sql: string, options: CallOptions, format: string): Promise<string> {
    const timeout = options.timeoutMs ?? this.timeoutMs;
    try {
      const params = options.params;
      const result = await this.withSession((session) =>
        params && options.inlineParams
          ? session.queryAsync(inlineParams(sql, params), { format, timeout })
          : params
            ? session.queryBindAsync(sql, params, { format, timeout })
            : session.queryAsync(sql, { format, timeout }),
      );
      return result.text();
    } catch (err) {
      throw wrap(err, 'query');
    }
  }
}

function quoteIdent(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error('invalid identifier');
  return `\`${name}\``;
}
