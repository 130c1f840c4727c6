/**
 * ops/clickhouse is code too: the SQL files parse with ClickHouse's own parser
 * (chDB's formatQuery: chDB refuses CREATE USER at execution, but parses it),
 * every table they grant on or fence is one the migrations create, no
 * password or key is committed, the XML files are well-formed, and the
 * storage config, loaded into the real engine, gives the migrations an
 * AES-encrypted default storage policy named as the embedded engine's.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Session } from 'chdb';
import { migrate } from '../src/storage/migrations.ts';
import { parseJsonEachRow, type Warehouse } from '../src/storage/warehouse.ts';
import { listFiles } from './helpers/engine.ts';
import { OPS_DIR, opsFiles, opsStatements, xmlProblem } from './helpers/clickhouse-ops.ts';
import { removeDir, tempDir } from './helpers/palisade.ts';

let dir: string;
let session: Session;
const DB = 'palisade';
// Tables the application creates outside schemas/clickhouse (the runner's ledger, the backup registry).
const CODE_TABLES = ['schema_migrations', 'backups'];

/** Just enough of a Warehouse over one chDB session for the migrations runner. */
function sessionWarehouse(s: Session): Warehouse {
  const run = async (sql: string, params: Record<string, unknown> | undefined, format: string) =>
    (params ? await s.queryBindAsync(sql, params, { format }) : await s.queryAsync(sql, { format })).text();
  return {
    kind: 'embedded',
    database: DB,
    query: async <T>(sql: string, o: { params?: Record<string, unknown> } = {}) => parseJsonEachRow<T>(await run(sql, o.params, 'JSONEachRow')),
    command: async (sql, o = {}) => void (await run(sql, o.params, 'TSV')),
    insertJson: () => Promise.reject(new Error('not needed here')),
    ping: async () => ({ ok: true }),
    close: async () => undefined,
  };
}

before(async () => {
  dir = await tempDir('palisade-ops-ch-');
  // The server's files as shipped, with the data path moved into the test's directory.
  await mkdir(path.join(dir, 'config.d'));
  for (const f of ['palisade-storage.xml', 'palisade-access-control.xml', 'palisade-custom-settings.xml']) {
    const text = await readFile(path.join(OPS_DIR, 'config.d', f), 'utf8');
    await writeFile(path.join(dir, 'config.d', f), text.replaceAll('/var/lib/clickhouse/', `${dir}/`));
  }
  await writeFile(path.join(dir, 'config.xml'), '<clickhouse></clickhouse>\n');
  // from_env: the key comes from the server's environment, as in production.
  process.env.PALISADE_DISK_KEY_HEX = '5a'.repeat(32);
  const { Session } = await import('chdb');
  session = new Session(path.join(dir, 'engine'), { connectionArgs: [`--config-file=${path.join(dir, 'config.xml')}`] });
  await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${DB}`);
  await session.queryAsync(`USE ${DB}`);
  await migrate(sessionWarehouse(session));
});

after(async () => {
  session?.close();
  if (dir) await removeDir(dir);
});

async function rows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
  const r = params ? await session.queryBindAsync(sql, params, { format: 'JSONEachRow' }) : await session.queryAsync(sql, { format: 'JSONEachRow' });
  return parseJsonEachRow<T>(r.text());
}

test('every statement in ops/clickhouse/*.sql parses with the ClickHouse parser', async () => {
  const files = await opsFiles('sql');
  assert.deepEqual(files, ['admin-user.sql', 'ingest-user.sql', 'query-user.sql']);
  for (const file of files) {
    const statements = await opsStatements(file);
    assert.ok(statements.length >= 5, `${file}: ${statements.length} statements`);
    for (const sql of statements) {
      const [r] = await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: sql });
      assert.ok(r && r.f.length > 0, `${file}: ${sql.slice(0, 80)}`);
    }
  }
  // The check is real: a broken statement is refused by the same call.
  await assert.rejects(rows('SELECT formatQuery({q:String}) AS f', { q: 'GRANT SELECT ON palisade.events TO' }), /SYNTAX_ERROR/);
});

test('every palisade table the users are granted or fenced on exists after the migrations', async () => {
  const created = new Set((await rows<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String}', { db: DB })).map((r) => r.name));
  for (const t of CODE_TABLES) created.add(t);
  const named: string[] = [];
  for (const file of await opsFiles('sql')) {
    for (const sql of await opsStatements(file)) {
      if (!/^(GRANT|REVOKE|CREATE ROW POLICY)/i.test(sql)) continue;
      for (const m of sql.matchAll(/\bpalisade\.([A-Za-z_][A-Za-z0-9_]*|\*)/g)) named.push(`${file}: ${m[1]}`);
    }
  }
  assert.ok(named.length >= 10, named.join('\n'));
  for (const n of named) {
    const table = n.split(': ')[1] as string;
    if (table !== '*') assert.ok(created.has(table), `${n} is not a table the migrations create (${[...created].join(', ')})`);
  }
  // The query user may read exactly the tables the query compiler reads (src/query/sql.ts fromTenant is its only FROM).
  const compiler = await readFile(path.join(OPS_DIR, '..', '..', 'src', 'query', 'compile.ts'), 'utf8');
  const read = [...new Set([...compiler.matchAll(/fromTenant\('([a-z_]+)'/g)].map((m) => m[1] as string))].sort();
  const granted = (await opsStatements('query-user.sql')).flatMap((s) => [...s.matchAll(/^GRANT SELECT ON palisade\.(\w+)/gi)].map((m) => m[1] as string));
  assert.deepEqual(granted.sort(), read);
});

test('no password or key material is committed: placeholders only', async () => {
  for (const file of [...(await opsFiles('sql')), ...(await opsFiles('xml'))]) {
    const text = await readFile(path.join(OPS_DIR, file), 'utf8');
    assert.doesNotMatch(text, /\b[0-9a-fA-F]{64}\b/, `${file} carries a 256-bit hex value`);
    for (const m of text.matchAll(/\bBY\s+'([^']*)'/g)) assert.equal(m[1], 'CHANGE-ME', `${file}: a real password`);
    // Key and password elements are empty, filled by from_env at load time.
    for (const m of text.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<(key_hex|key|password[a-z_0-9]*)\b([^>]*?)(\/?)>/g)) {
      assert.equal(m[3], '/', `${file}: <${m[1]}> has a value`);
      assert.match(m[2] ?? '', /from_env="[A-Z_0-9]+"|remove=/, `${file}: <${m[1]}> neither from_env nor removed`);
    }
  }
});

test('every XML file in ops/clickhouse is well-formed', async () => {
  const files = await opsFiles('xml');
  assert.ok(files.length >= 5, files.join(', '));
  for (const file of files) {
    const text = await readFile(path.join(OPS_DIR, file), 'utf8');
    assert.equal(xmlProblem(text), null, file);
  }
  // The check is real.
  assert.match(xmlProblem('<clickhouse><a></b></clickhouse>') ?? '', /closes/);
  assert.match(xmlProblem('<clickhouse><a x=1/></clickhouse>') ?? '', /attributes/);
  assert.match(xmlProblem('<clickhouse>') ?? '', /never closed/);
});

test('the storage config puts every migrated table on the encrypted policy, keyed from the environment', async () => {
  const tables = await rows<{ name: string; storage_policy: string }>(
    "SELECT name, storage_policy FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree%'",
    { db: DB },
  );
  assert.ok(tables.length >= 8, JSON.stringify(tables));
  for (const t of tables) assert.equal(t.storage_policy, 'encrypted', t.name);
  const [disk] = await rows<{ is_encrypted: number }>("SELECT is_encrypted FROM system.disks WHERE name = 'encrypted'");
  assert.equal(disk?.is_encrypted, 1);
  // A part on disk is ciphertext: encrypted files start with the "ENC" header.
  await session.queryAsync("INSERT INTO tenants (id, name, allowed_origins, created_at, updated_at, version) VALUES ('ten_visible_name', 'visible-name', [], now64(3), now64(3), 1)");
  const files = await listFiles(path.join(dir, 'disks', 'plain'));
  const data = files.filter((f) => f.endsWith('.bin'));
  assert.ok(data.length > 0, files.join('\n'));
  for (const f of data) {
    const bytes = await readFile(f);
    assert.equal(bytes.subarray(0, 3).toString('latin1'), 'ENC', f);
    assert.ok(!bytes.includes('visible-name'), `${f} holds plaintext`);
  }
});
