/**
 * Numbered SQL migrations from schemas/clickhouse, applied in order and
 * recorded with a checksum. An applied migration whose file was edited is a
 * hard stop: the database and the repository disagree and a person must look.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Warehouse } from './warehouse.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../schemas/clickhouse/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

export interface MigrationStatus {
  applied: { version: number; name: string }[];
  pending: Migration[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Splits on `;` at the end of a line; migrations keep semicolons out of string literals. */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    out.push({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      checksum: createHash('sha256').update(text).digest('hex'),
      statements: splitStatements(text),
    });
  }
  return out;
}

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version`;

export async function migrationStatus(wh: Warehouse, dir = MIGRATIONS_DIR): Promise<MigrationStatus> {
  await wh.command(LEDGER);
  const applied = await wh.query<{ version: number; name: string; checksum: string }>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  const known = await loadMigrations(dir);
  const byVersion = new Map(known.map((m) => [m.version, m]));
  for (const row of applied) {
    const m = byVersion.get(Number(row.version));
    if (!m) throw new MigrationError(`migration ${row.name} is applied but its file is missing from ${dir}`);
    if (m.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)} in the database, ` +
          `${m.checksum.slice(0, 12)} on disk); add a new migration instead of editing an applied one`,
      );
    }
  }
  const appliedVersions = new Set(applied.map((r) => Number(r.version)));
  return {
    applied: applied.map((r) => ({ version: Number(r.version), name: r.name })),
    pending: known.filter((m) => !appliedVersions.has(m.version)),
  };
}

export interface MigrateOptions {
  dir?: string;
  /** Runs before the first pending migration; throwing stops the migration (e.g. a failed pre-change backup). */
  beforeApply?: (pending: Migration[]) => Promise<void>;
}

export async function migrate(wh: Warehouse, options: MigrateOptions = {}): Promise<Migration[]> {
  const { pending } = await migrationStatus(wh, options.dir);
  if (pending.length === 0) return [];
  await options.beforeApply?.(pending);
  for (const m of pending) {
    for (const statement of m.statements) await wh.command(statement, { timeoutMs: 120_000 });
    await wh.command(
      'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3))',
      { params: { v: m.version, n: m.name, c: m.checksum } },
    );
  }
  return pending;
}
