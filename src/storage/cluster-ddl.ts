/**
 * The cluster variant of the migrations (N edges on one ClickHouse cluster): the SAME statements from
 * schemas/clickhouse, rewritten for a ClickHouse cluster
 * (PALISADE_CLICKHOUSE_CLUSTER). Pure and deterministic: the output depends
 * only on the statement, the cluster name and the database, so the ledger's
 * checksums stay those of the files.
 *
 * Two kinds of table:
 * - SHARDED (tenant data that grows with traffic): `<t>_local ON CLUSTER`,
 *   a Replicated*MergeTree per shard, plus `<t>` as a Distributed table over
 *   it sharded by cityHash64(tenant_id), so one tenant's rows, partitions,
 *   FINAL and dedup all live on one shard;
 * - REPLICATED (small control-plane tables and ledgers): one
 *   Replicated*MergeTree with every node of the cluster as a replica (its
 *   Keeper path has no {shard}), so every edge reads the same keys from the
 *   node it talks to and there is exactly one migrations ledger.
 * A table in neither list is refused: a new table must be classified here.
 */
import { IDENTIFIER } from './warehouse.ts';

export const SHARDED_TABLES: ReadonlySet<string> = new Set(['events', 'ingestion_warnings', 'dead_letters']);
export const REPLICATED_TABLES: ReadonlySet<string> = new Set([
  'tenants',
  'api_keys',
  'tenant_settings',
  'tenant_edge_settings',
  'support_grants',
  'deletion_receipts',
  // Each node's hash chain; replicated (not sharded by node) so any edge can verify any chain.
  'audit_log',
  'schema_migrations',
  'backups',
]);

export const LOCAL_SUFFIX = '_local';

export class ClusterDdlError extends Error {
  override name = 'ClusterDdlError';
}

export interface ClusterTarget {
  cluster: string;
  database: string;
}

export function assertIdent(kind: string, name: string): string {
  if (!IDENTIFIER.test(name)) throw new ClusterDdlError(`${kind} must be a plain identifier: ${JSON.stringify(name)}`);
  return name;
}

export function localName(table: string): string {
  return `${table}${LOCAL_SUFFIX}`;
}

/** Keeper path of a table: per shard for sharded tables, one for the whole cluster otherwise. */
export function keeperPath(table: string): string {
  return SHARDED_TABLES.has(table) ? `/clickhouse/tables/{shard}/{database}/${localName(table)}` : `/clickhouse/tables/all/{database}/${table}`;
}

function classify(table: string): 'sharded' | 'replicated' {
  if (SHARDED_TABLES.has(table)) return 'sharded';
  if (REPLICATED_TABLES.has(table)) return 'replicated';
  throw new ClusterDdlError(
    `table ${table} is neither sharded nor replicated in the cluster variant: add it to SHARDED_TABLES or REPLICATED_TABLES in src/storage/cluster-ddl.ts`,
  );
}

const NAME = '`?([A-Za-z_][A-Za-z0-9_]*)`?';
const CREATE = new RegExp(`^CREATE\\s+TABLE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${NAME}\\s*\\(`, 'i');
const ALTER = new RegExp(`^ALTER\\s+TABLE\\s+${NAME}\\s+(?!ON\\s+CLUSTER\\b)([\\s\\S]+)$`, 'i');
const DROP = new RegExp(`^DROP\\s+TABLE\\s+(IF\\s+EXISTS\\s+)?${NAME}\\s*(SYNC)?$`, 'i');
const ENGINE = /^\s*ENGINE\s*=\s*([A-Za-z]*MergeTree)\b(?:\s*\(([^()]*)\))?/i;
// Schema changes a Distributed table must follow; anything else (a mutation, TTL, settings) concerns the storage only.
const COLUMN_CHANGE = /^(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR)\s+COLUMN\b/i;

/** The index just past the parenthesis that closes the one at `open` (no parentheses inside string literals in migrations). */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    if (sql[i] === '(') depth++;
    else if (sql[i] === ')' && --depth === 0) return i + 1;
  }
  throw new ClusterDdlError('unbalanced parentheses in CREATE TABLE');
}

function onCluster(cluster: string): string {
  return `ON CLUSTER \`${cluster}\``;
}

function renderCreate(sql: string, m: RegExpExecArray, t: ClusterTarget): string[] {
  const ifNotExists = m[1] ? 'IF NOT EXISTS ' : '';
  const table = m[2] as string;
  const kind = classify(table);
  const open = m[0].length - 1;
  const close = closingParen(sql, open);
  const columns = sql.slice(open, close);
  const engine = ENGINE.exec(sql.slice(close));
  if (!engine) throw new ClusterDdlError(`CREATE TABLE ${table}: only a *MergeTree engine can be rendered for a cluster`);
  const base = engine[1] as string;
  if (/^Replicated/i.test(base)) throw new ClusterDdlError(`CREATE TABLE ${table}: migrations name the plain engine; the renderer adds Replicated`);
  const args = [`'${keeperPath(table)}'`, `'{replica}'`, ...(engine[2]?.trim() ? [engine[2].trim()] : [])].join(', ');
  // Replicated tables deduplicate by replicated_deduplication_window; the non-replicated window is ignored there.
  const rest = sql.slice(close + engine[0].length).replace(/\bnon_replicated_deduplication_window\b/g, 'replicated_deduplication_window');
  const storage = kind === 'sharded' ? localName(table) : table;
  const out = [`CREATE TABLE ${ifNotExists}${storage} ${onCluster(t.cluster)}\n${columns}\nENGINE = Replicated${base}(${args})${rest}`];
  if (kind === 'sharded') {
    if (!/(^|[\s(,])`?tenant_id`?\s+String\b/.test(columns)) throw new ClusterDdlError(`CREATE TABLE ${table}: a sharded table needs a tenant_id String column to shard by`);
    out.push(
      `CREATE TABLE ${ifNotExists}${table} ${onCluster(t.cluster)} AS ${storage}\n` +
        `ENGINE = Distributed('${t.cluster}', '${t.database}', '${storage}', cityHash64(tenant_id))`,
    );
  }
  return out;
}

function renderAlter(m: RegExpExecArray, t: ClusterTarget): string[] {
  const table = m[1] as string;
  const action = (m[2] as string).trim();
  if (classify(table) === 'replicated') {
    // Keeper carries a replicated table's schema changes and mutations to every replica (here: every node).
    // ON CLUSTER would run it once per shard against the same table.
    return [`ALTER TABLE ${table} ${action}`];
  }
  const out = [`ALTER TABLE ${localName(table)} ${onCluster(t.cluster)} ${action}`];
  if (COLUMN_CHANGE.test(action)) out.push(`ALTER TABLE ${table} ${onCluster(t.cluster)} ${action}`);
  return out;
}

function renderDrop(m: RegExpExecArray, t: ClusterTarget): string[] {
  const table = m[2] as string;
  const ifExists = m[1] ? 'IF EXISTS ' : '';
  const names = classify(table) === 'sharded' ? [table, localName(table)] : [table];
  return names.map((n) => `DROP TABLE ${ifExists}${n} ${onCluster(t.cluster)} SYNC`);
}

/**
 * One migration statement → the statements that apply it to the cluster, in
 * order. Throws ClusterDdlError for a statement it cannot rewrite safely
 * (better a stopped migration than a table created on one node only).
 */
export function renderForCluster(statement: string, target: ClusterTarget): string[] {
  assertIdent('cluster name', target.cluster);
  assertIdent('database name', target.database);
  const sql = statement.trim().replace(/;\s*$/, '');
  let m: RegExpExecArray | null;
  if ((m = CREATE.exec(sql))) return renderCreate(sql, m, target);
  if ((m = ALTER.exec(sql))) return renderAlter(m, target);
  if ((m = DROP.exec(sql))) return renderDrop(m, target);
  throw new ClusterDdlError(`cannot render for a cluster: ${sql.split('\n')[0]?.slice(0, 80)} (supported: CREATE TABLE, ALTER TABLE, DROP TABLE)`);
}

export function renderAllForCluster(statements: readonly string[], target: ClusterTarget): string[] {
  return statements.flatMap((s) => renderForCluster(s, target));
}
