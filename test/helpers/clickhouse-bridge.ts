/**
 * TEST ONLY, never shipped: ClickHouse's HTTP interface served from chDB, so
 * the @clickhouse/client adapter can be tested where no ClickHouse server can
 * be installed. Run as its own process (chDB binds one data directory per
 * process):
 *   node --import tsx test/helpers/clickhouse-bridge.ts --path DIR [--port N] [--user U --password P]
 *     [--users U1:P1,U2:P2] [--custom-settings-prefixes SQL_] [--log FILE] [--cluster NAME]
 * It prints one JSON line `{"port":N,"version":"…"}` once it listens.
 *
 * What it implements is what @clickhouse/client 1.23 sends (read from
 * client-common/dist and client/dist/connection):
 * - `GET /ping` → `Ok.\n`;
 * - query()/command(): POST, SQL in the body; insert(): `query=INSERT INTO t FORMAT F`
 *   in the URL and the rows in the body (ClickHouse appends the body to the query);
 * - `param_<name>` bound parameters and every other URL parameter as a setting
 *   (database, query_id, default_format and the HTTP-only ones are not settings);
 * - X-ClickHouse-Query-Id, -Format, -Summary, -Timezone headers;
 * - gzip request bodies (Content-Encoding) and gzip responses when
 *   `enable_http_compression=1` and the client accepts gzip (the adapter leaves
 *   compression off, the client's default, but a configured client still works);
 * - HTTP Basic or X-ClickHouse-User/-Key credentials, checked against --user/--password
 *   and --users (more logins, as ops/clickhouse creates them). Every login has
 *   every right: chDB has no access control, so the bridge only tells users
 *   apart. With --log, one JSON line per authenticated statement records who
 *   sent it, with its database and settings (`{user, database, statement, settings}`),
 *   so a test can check which login the application used for what;
 * - custom settings (--custom-settings-prefixes, e.g. SQL_ for the row policy's
 *   SQL_palisade_tenant): accepted and logged, not applied (chDB rejects them);
 * - errors as ClickHouse formats them: `Code: N. DB::Exception: … (NAME) (version V)`
 *   with X-ClickHouse-Exception-Code and ClickHouse's status for the code, so
 *   the client raises ClickHouseError with the numeric code.
 * - --cluster NAME: a one-shard cluster NAME whose only replica is
 *   this engine (remote_servers + macros), so Distributed tables, cluster() and
 *   clusterAllReplicas() run for real. What chDB cannot run, it emulates: chDB
 *   refuses ON CLUSTER ("Replicated DDL queries are disabled": no DDL worker)
 *   and a Replicated*MergeTree stays read-only (no interserver address in
 *   clickhouse-local), so `ON CLUSTER x` is dropped and Replicated engines
 *   become their plain MergeTree (replicated_deduplication_window becomes the
 *   non-replicated one). --log records the statement as received, before that.
 * Each request runs on a fresh chDB connection (about 1 ms here), so `USE` and
 * `SET` stay per request, as settings do on a real server's HTTP interface.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Session } from 'chdb';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined && fallback === undefined) throw new Error(`--${name} is required`);
  return v ?? (fallback as string);
}

const DIR = arg('path');
const PORT = Number(arg('port', '0'));
const USER = arg('user', 'default');
const PASSWORD = arg('password', '');
const LOGINS = new Map<string, string>([[USER, PASSWORD]]);
for (const pair of arg('users', '').split(',').filter(Boolean)) {
  const colon = pair.indexOf(':');
  LOGINS.set(colon < 0 ? pair : pair.slice(0, colon), colon < 0 ? '' : pair.slice(colon + 1));
}
const CUSTOM_PREFIXES = arg('custom-settings-prefixes', '').split(',').filter(Boolean);
const LOG = arg('log', '');
const CLUSTER = arg('cluster', '');

function clusterConfig(cluster: string): { connectionArgs: string[] } {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(cluster)) throw new Error('--cluster must be an identifier');
  const backups = `${DIR}/backups/`;
  mkdirSync(backups, { recursive: true });
  const file = `${DIR}/bridge-cluster.xml`;
  // tcp_port + host localhost make the replica is_local: reads and inserts stay in this process.
  writeFileSync(
    file,
    `<clickhouse>
  <tcp_port>9000</tcp_port>
  <macros><shard>01</shard><replica>bridge-1</replica></macros>
  <remote_servers><${cluster}><shard><internal_replication>true</internal_replication>
    <replica><host>localhost</host><port>9000</port></replica>
  </shard></${cluster}></remote_servers>
  <storage_configuration><disks><backups><type>local</type><path>${backups}</path></backups></disks></storage_configuration>
  <backups><allowed_disk>backups</allowed_disk><allowed_path>${backups}</allowed_path></backups>
</clickhouse>
`,
  );
  return { connectionArgs: [`--config-file=${file}`] };
}
const SESSION_OPTIONS = CLUSTER ? clusterConfig(CLUSTER) : undefined;

/** What --cluster cannot run in chDB, rewritten to its single-replica equivalent (see the header). */
function emulateCluster(sql: string): string {
  return sql
    .replace(/\s+ON\s+CLUSTER\s+(`[^`]+`|'[^']+'|[A-Za-z_][A-Za-z0-9_]*)/gi, '')
    .replace(/\bReplicated([A-Za-z]*MergeTree)\(\s*'[^']*'\s*,\s*'[^']*'\s*(?:,\s*)?/g, '$1(')
    .replace(/\breplicated_deduplication_window\b/g, 'non_replicated_deduplication_window');
}

// URL parameters the HTTP handler consumes itself; every other one is a setting.
const NOT_SETTINGS = new Set([
  'query', 'database', 'query_id', 'session_id', 'session_timeout', 'session_check', 'default_format',
  'user', 'password', 'quota_key', 'role', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query',
  'enable_http_compression', 'http_zlib_compression_level', 'client_protocol_version',
]);
const RAW_INSERT_FORMATS = new Set(['JSONEachRow', 'JSONCompactEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TabSeparated', 'TSVWithNames', 'TabSeparatedWithNames']);
const CONTENT_TYPES: Record<string, string> = {
  JSONEachRow: 'application/x-ndjson; charset=UTF-8',
  JSON: 'application/json; charset=UTF-8',
  JSONCompact: 'application/json; charset=UTF-8',
  CSV: 'text/csv; charset=UTF-8; header=absent',
};
// ClickHouse's exceptionCodeToHTTPStatus for the codes a client can cause; the rest are 500.
const STATUS_BY_CODE: Record<number, number> = {
  516: 401, 192: 401, 194: 401, 195: 401, // AUTHENTICATION_FAILED, UNKNOWN_USER, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED
  497: 403, 164: 403, // ACCESS_DENIED, READONLY
  6: 400, 26: 400, 27: 400, 38: 400, 41: 400, 53: 400, 62: 400, 70: 400, 72: 400, 115: 400, 117: 400, 130: 400, 456: 400, 457: 400,
  60: 404, 81: 404, 46: 404, 16: 404, // UNKNOWN_TABLE, UNKNOWN_DATABASE, UNKNOWN_FUNCTION, NO_SUCH_COLUMN_IN_TABLE
  48: 501, // NOT_IMPLEMENTED
  202: 503, 209: 503, 210: 503, // TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR
};

class BridgeError extends Error {
  constructor(message: string, readonly code: number, readonly codeName: string) {
    super(message);
  }
}

// ---- bound parameters -------------------------------------------------------

/**
 * chDB takes JS values and serialises them itself (a string is TSV-escaped,
 * an array becomes an SQL literal), while the client already sent the wire
 * form. Decode the wire form back into the JS value the client started from,
 * guided by the type declared in `{name:Type}`, so chDB's binder hands the
 * engine the same text the real server would have parsed.
 */
function declaredTypes(sql: string): Map<string, string> {
  const types = new Map<string, string>();
  const re = /\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/g;
  for (let m = re.exec(sql); m; m = re.exec(sql)) types.set(m[1] as string, m[2] as string);
  return types;
}

const ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', '0': '\0', b: '\b', f: '\f', a: '\x07', v: '\v' };

function unescapeTsv(s: string): string {
  return s.replace(/\\(.)/gs, (_, c: string) => ESCAPES[c] ?? c);
}

/** Parses a ClickHouse array literal of strings, numbers, NULL, booleans and nested arrays. */
function parseLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return out;
        } else throw new Error('bad array literal');
      }
    }
    if (c === "'") {
      i++;
      let s = '';
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\') {
          const n = text[i + 1] as string;
          s += ESCAPES[n] ?? n;
          i += 2;
        } else s += text[i++];
      }
      if (text[i] !== "'") throw new Error('unterminated string');
      i++;
      return s;
    }
    const m = /^(NULL|TRUE|FALSE|[-+]?[0-9][0-9a-zA-Z_.+-]*|nan|[-+]?inf)/i.exec(text.slice(i));
    if (!m) throw new Error('bad literal');
    i += m[0].length;
    const t = m[0].toUpperCase();
    if (t === 'NULL') return null;
    if (t === 'TRUE' || t === 'FALSE') return t === 'TRUE';
    const n = Number(m[0]);
    if (Number.isSafeInteger(n) || !/^[-+]?\d+$/.test(m[0])) return n;
    return BigInt(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) throw new Error('trailing characters');
  return v;
}

function bindValue(wire: string, type: string | undefined): unknown {
  const base = (type ?? 'String').replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2').replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2');
  if (wire === '\\N') return null;
  if (/^Array\(/.test(base)) {
    try {
      return parseLiteral(wire);
    } catch {
      return wire; // let the engine produce its own parse error
    }
  }
  return unescapeTsv(wire);
}

// ---- settings ---------------------------------------------------------------

function quote(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BridgeError(`Code: 36. DB::Exception: Bad identifier ${JSON.stringify(name)}. (BAD_ARGUMENTS)`, 36, 'BAD_ARGUMENTS');
  return `\`${name}\``;
}

// ---- request handling -------------------------------------------------------

let version = '';

function fail(res: http.ServerResponse, queryId: string, err: unknown): void {
  const e = err as { clickhouseCode?: number; code?: unknown; message?: string; codeName?: string };
  const code = typeof e.clickhouseCode === 'number' ? e.clickhouseCode : typeof e.code === 'number' ? e.code : 1001;
  let message = String(e.message ?? err).trim();
  if (!/^Code: \d+\./.test(message)) message = `Code: ${code}. DB::Exception: ${message.replace(/\.$/, '')}. (${e.codeName ?? 'STD_EXCEPTION'})`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(STATUS_BY_CODE[code] ?? 500, {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': String(code),
    'X-ClickHouse-Query-Id': queryId,
    'X-ClickHouse-Server-Display-Name': 'palisade-test-bridge',
  });
  res.end(`${message} (version ${version})\n`);
}

/** The login the request authenticated as. */
function authenticate(req: http.IncomingMessage, url: URL): string {
  let user = url.searchParams.get('user') ?? (req.headers['x-clickhouse-user'] as string | undefined);
  let password = url.searchParams.get('password') ?? (req.headers['x-clickhouse-key'] as string | undefined);
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const expected = LOGINS.get(user ?? 'default');
  if (expected === undefined || (password ?? '') !== expected) {
    throw new BridgeError(
      `Code: 516. DB::Exception: ${user ?? 'default'}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)`,
      516,
      'AUTHENTICATION_FAILED',
    );
  }
  return user ?? 'default';
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const enc = req.headers['content-encoding'];
  if (enc === 'gzip') return gunzipSync(raw);
  if (enc && enc !== 'identity') throw new BridgeError(`Code: 48. DB::Exception: Content-Encoding ${enc} is not supported by the test bridge. (NOT_IMPLEMENTED)`, 48, 'NOT_IMPLEMENTED');
  return raw;
}

interface Outcome {
  body: Buffer;
  format: string;
  summary: Record<string, string>;
}

async function execute(url: URL, body: Buffer, database: string, user: string): Promise<Outcome> {
  const p = url.searchParams;
  let sql = p.get('query') ?? '';
  let data: Buffer | undefined;
  if (sql) data = body.length > 0 ? body : undefined;
  else sql = body.toString('utf8');
  if (!sql.trim()) throw new BridgeError('Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)', 62, 'SYNTAX_ERROR');

  const params: Record<string, unknown> = {};
  const settings: string[] = [];
  const logged: Record<string, string> = {};
  const types = declaredTypes(sql);
  for (const [k, v] of p) {
    if (k.startsWith('param_')) params[k.slice(6)] = bindValue(v, types.get(k.slice(6)));
    else if (!NOT_SETTINGS.has(k)) {
      logged[k] = v;
      if (!CUSTOM_PREFIXES.some((prefix) => k.startsWith(prefix))) settings.push(`SET ${ident(k)} = ${quote(v)}`);
    }
  }
  if (LOG) appendFileSync(LOG, `${JSON.stringify({ user, database, statement: sql.trim().slice(0, 4000), settings: logged })}\n`);
  if (CLUSTER) sql = emulateCluster(sql);
  const trailing = /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql);
  const format = trailing?.[1] ?? p.get('default_format') ?? 'TabSeparated';

  const session = new Session(DIR, SESSION_OPTIONS);
  try {
    await session.queryAsync([`USE ${ident(database)}`, ...settings].join('; '));
    const started = process.hrtime.bigint();
    const insert = data && /^\s*INSERT\s+INTO\s+([A-Za-z0-9_.]+)\s*(?:\(([^)]*)\))?\s*FORMAT\s+([A-Za-z]+)\s*$/i.exec(sql);
    if (data && insert && RAW_INSERT_FORMATS.has(insert[3] as string)) {
      const columns = insert[2]?.split(',').map((c) => c.trim()).filter(Boolean);
      const r = await session.insert({
        table: insert[1] as string,
        values: data,
        format: insert[3] as 'JSONEachRow',
        ...(columns && columns.length > 0 ? { columns } : {}),
      });
      return { body: Buffer.alloc(0), format, summary: summary({ writtenRows: r.rowsWritten, writtenBytes: r.bytesWritten, started }) };
    }
    // ClickHouse's HTTP interface: the body after a query in the URL is the statement's data.
    if (data) sql = `${sql}\n${data.toString('utf8')}`;
    const result = Object.keys(params).length > 0 ? await session.queryBindAsync(sql, params, { format }) : await session.queryAsync(sql, { format });
    const bytes = Buffer.from(result.bytes());
    return { body: bytes, format, summary: summary({ readRows: result.rowsRead, readBytes: result.bytesRead, resultBytes: bytes.length, started }) };
  } finally {
    session.close();
  }
}

function summary(o: { readRows?: number; readBytes?: number; writtenRows?: number; writtenBytes?: number; resultBytes?: number; started: bigint }): Record<string, string> {
  return {
    read_rows: String(o.readRows ?? 0),
    read_bytes: String(o.readBytes ?? 0),
    written_rows: String(o.writtenRows ?? 0),
    written_bytes: String(o.writtenBytes ?? 0),
    total_rows_to_read: String(o.readRows ?? 0),
    result_rows: '0',
    result_bytes: String(o.resultBytes ?? 0),
    elapsed_ns: String(process.hrtime.bigint() - o.started),
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://bridge');
  const queryId = url.searchParams.get('query_id') ?? randomUUID();
  try {
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') throw new BridgeError(`Code: 48. DB::Exception: No handler for ${url.pathname} in the test bridge. (NOT_IMPLEMENTED)`, 48, 'NOT_IMPLEMENTED');
    const user = authenticate(req, url);
    if (String(req.headers['content-type'] ?? '').startsWith('multipart/')) {
      throw new BridgeError('Code: 48. DB::Exception: multipart parameters are not implemented by the test bridge. (NOT_IMPLEMENTED)', 48, 'NOT_IMPLEMENTED');
    }
    const body = await readBody(req);
    const database = url.searchParams.get('database') ?? (req.headers['x-clickhouse-database'] as string | undefined) ?? 'default';
    const out = await execute(url, body, database, user);
    const gzip = url.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const headers: Record<string, string> = {
      'Content-Type': CONTENT_TYPES[out.format] ?? 'text/tab-separated-values; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Format': out.format,
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': 'palisade-test-bridge',
      'X-ClickHouse-Summary': JSON.stringify(out.summary),
      'Keep-Alive': 'timeout=10',
    };
    if (gzip) headers['Content-Encoding'] = 'gzip';
    res.writeHead(200, headers);
    res.end(gzip ? gzipSync(out.body) : out.body);
  } catch (err) {
    fail(res, queryId, err);
  }
}

// Held open for the life of the process: it keeps the engine up between requests.
const boot = new Session(DIR, SESSION_OPTIONS);
version = (await boot.queryAsync('SELECT version()', { format: 'TSV' })).text().trim();

// 1 MiB: ClickHouse's http_max_uri_size default (bound parameters travel in the URL).
const server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => void handle(req, res));
server.keepAliveTimeout = 10_000;
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, version })}\n`);
});
// A test fixture: stop at once, whoever still holds a keep-alive socket.
process.on('SIGTERM', () => {
  server.closeAllConnections();
  process.exit(0);
});
