/**
 * The one interface both ClickHouse adapters implement: chDB in-process (the
 * embedded default) and @clickhouse/client over HTTP (a server or cluster).
 * Callers write one SQL for both: bound parameters only (`{name:Type}`),
 * unqualified table names (the adapter selects the database), JSONEachRow in
 * and out.
 */
export type Params = Record<string, unknown>;
export type Settings = Record<string, string | number>;

export interface CallOptions {
  params?: Params;
  settings?: Settings;
  /** Per-call deadline; also sent to the engine as max_execution_time. */
  timeoutMs?: number;
  /**
   * Embedded engine only: send the values as typed literals instead of bound
   * parameters (src/storage/literal-params.ts), so the statement runs beside
   * others instead of in chdb's process-wide queue of parameterised statements.
   */
  inlineParams?: boolean;
}

export interface InsertOptions {
  settings?: Settings;
  timeoutMs?: number;
  /**
   * JSONEachRow (the default): one JSON object per line. JSONCompactEachRow:
   * one JSON array of values per line, in the order of `columns` (required
   * then), about half the bytes and cheaper for the engine to parse.
   */
  format?: 'JSONEachRow' | 'JSONCompactEachRow';
  columns?: readonly string[];
}

/** A plain SQL identifier (a table, column, database or disk name written into a statement, never quoted from input). */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `INSERT INTO t [(a, b)] FORMAT f` for an insert's options; the names are checked, never quoted from input. */
export function insertStatement(table: string, options: InsertOptions = {}): string {
  const format = options.format ?? 'JSONEachRow';
  const columns = options.columns ?? [];
  if (!IDENTIFIER.test(table)) throw new Error(`invalid table name: ${table}`);
  for (const c of columns) if (!IDENTIFIER.test(c)) throw new Error(`invalid column name: ${c}`);
  if (format === 'JSONCompactEachRow' && columns.length === 0) throw new Error('a JSONCompactEachRow insert names its columns');
  return `INSERT INTO ${table}${columns.length > 0 ? ` (${columns.join(', ')})` : ''} FORMAT ${format}`;
}

export interface Warehouse {
  readonly kind: 'embedded' | 'server';
  readonly database: string;
  /** The ClickHouse cluster the migrations ran ON CLUSTER (PALISADE_CLICKHOUSE_CLUSTER); see cluster-sql.ts. */
  readonly cluster?: string;
  /** SELECT … returning rows parsed from JSONEachRow. */
  query<T = Record<string, unknown>>(sql: string, options?: CallOptions): Promise<T[]>;
  /** DDL and other statements that return nothing. */
  command(sql: string, options?: CallOptions): Promise<void>;
  /** INSERT a payload of JSON lines: JSONEachRow unless options.format says JSONCompactEachRow. */
  insertJson(table: string, payload: Buffer, options?: InsertOptions): Promise<void>;
  ping(): Promise<{ ok: boolean; version?: string }>;
  close(): Promise<void>;
}

/**
 * Why a warehouse call failed, decided by ClickHouse's numeric error code
 * (never by message text): `data` means the payload itself is bad and retrying
 * it is pointless; `argument` means a bound value was refused (a caller's
 * mistake on a read path: a 4xx, never an outage); `unavailable` means try
 * again later.
 */
export type WarehouseErrorKind = 'data' | 'argument' | 'unavailable' | 'limit' | 'other';

export class WarehouseError extends Error {
  override name = 'WarehouseError';
  constructor(
    message: string,
    readonly kind: WarehouseErrorKind,
    readonly clickhouseCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// ClickHouse error codes (src/Common/ErrorCodes.cpp) whose cause is the data.
const DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
]);
// Codes whose cause is a bound argument the engine will not take (a zone it
// cannot load, a value its parameter parser refuses): the statement is ours
// and constant, so the value came from the caller.
const ARGUMENT_CODES = new Set([
  36, // BAD_ARGUMENTS (e.g. "Cannot load time zone")
  43, // ILLEGAL_TYPE_OF_ARGUMENT
  457, // BAD_QUERY_PARAMETER (a parameter value that does not parse as its type)
]);
const LIMIT_CODES = new Set([
  158, // TOO_MANY_ROWS
  159, // TIMEOUT_EXCEEDED
  160, // TOO_SLOW
  241, // MEMORY_LIMIT_EXCEEDED
  307, // TOO_MANY_BYTES
  396, // TOO_MANY_ROWS_OR_BYTES
]);
const UNAVAILABLE_CODES = new Set([
  201, // QUOTA_EXCEEDED (ops/clickhouse quotas: the interval ends, then it works again)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  252, // TOO_MANY_PARTS
  242, // TABLE_IS_READ_ONLY
  319, // UNKNOWN_STATUS_OF_INSERT
  999, // KEEPER_EXCEPTION
]);

export function classifyCode(code: number | undefined): WarehouseErrorKind {
  if (code === undefined) return 'unavailable';
  if (DATA_CODES.has(code)) return 'data';
  if (ARGUMENT_CODES.has(code)) return 'argument';
  if (LIMIT_CODES.has(code)) return 'limit';
  if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  return 'other';
}

/** Settings are engine knobs we set ourselves; refuse anything that is not a plain name and scalar. */
export function renderSettings(settings: Settings | undefined): string {
  if (!settings) return '';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(settings)) {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid setting name: ${name}`);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`invalid setting value for ${name}`);
      parts.push(`${name} = ${value}`);
    } else {
      if (!/^[A-Za-z0-9_.\-]*$/.test(value)) throw new Error(`invalid setting value for ${name}`);
      parts.push(`${name} = '${value}'`);
    }
  }
  return parts.length ? `\nSETTINGS ${parts.join(', ')}` : '';
}

export function withTimeoutSetting(settings: Settings | undefined, timeoutMs: number): Settings {
  // max_execution_time is whole seconds; round up so the engine's own stop
  // comes no earlier than ours.
  return { max_execution_time: Math.max(1, Math.ceil(timeoutMs / 1000)), ...settings };
}

/**
 * One row of a JSONEachRow INSERT. JSON.stringify writes a lone surrogate (half
 * of an emoji cut off, or a hostile string in a name or a reason) as a `\udXXX`
 * escape, which the engine's JSON parser refuses (CANNOT_PARSE_ESCAPE_SEQUENCE),
 * failing the whole INSERT: a 500 for a request that only carried odd text. Each
 * string is made well-formed first, a lone surrogate becoming U+FFFD, as a UTF-8
 * decoder would make it and as the ingest sanitiser does for events.
 */
export function jsonRow(row: unknown): string {
  return JSON.stringify(row, wellFormed);
}

function wellFormed(_key: string, value: unknown): unknown {
  return typeof value === 'string' && !value.isWellFormed() ? value.toWellFormed() : value;
}

export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) {
    if (line.length > 0) rows.push(JSON.parse(line) as T);
  }
  return rows;
}
