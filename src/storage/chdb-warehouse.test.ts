/**
 * The embedded adapter against the real engine: the encrypted disk really
 * holds the tables, bound parameters bind, errors carry ClickHouse's code and
 * kind, a slow statement does not hold up a quick one, and the migration
 * runner refuses an edited migration.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { ChdbWarehouse } from './chdb-warehouse.ts';
import { fileEngine, listFiles } from '../../test/helpers/engine.ts';
import { loadMigrations, migrate, MIGRATIONS_DIR, migrationStatus, splitStatements } from './migrations.ts';
import { jsonRow, WarehouseError } from './warehouse.ts';

// Not migrated up front: the first test is the migration runner's.
const engine = fileEngine('palisade-wh-', { migrate: false });
let dir: string;
let wh: ChdbWarehouse;
/** Migration copies the runner is tried on: under the OS temp dir, never the work tree. */
let copies: string;
before(async () => {
  wh = await engine.open();
  dir = engine.dir;
  copies = await mkdtemp(path.join(tmpdir(), 'palisade-migrations-'));
});
after(async () => {
  if (copies) await rm(copies, { recursive: true, force: true });
});

test('migrations apply in order, once, onto the encrypted disk', async () => {
  const applied = await migrate(wh);
  assert.deepEqual(applied.map((m) => m.version), (await loadMigrations()).map((m) => m.version));
  assert.deepEqual(await migrate(wh), [], 'a second run applies nothing');
  const policies = await wh.query<{ name: string; storage_policy: string }>(
    "SELECT name, storage_policy FROM system.tables WHERE database = 'palisade' AND engine LIKE '%MergeTree' ORDER BY name",
  );
  assert.ok(policies.length >= 4);
  assert.ok(policies.every((p) => p.storage_policy === 'encrypted'), JSON.stringify(policies));
});

test('data on disk is ciphertext', async () => {
  const marker = 'plaintext-canary-7f3a9c';
  await wh.insertJson('tenants', Buffer.from(JSON.stringify({ id: 'ten_canary', name: marker, allowed_origins: [], created_at: '2026-01-01 00:00:00.000', updated_at: '2026-01-01 00:00:00.000', deleted: 0, version: 1 })));
  const files = await listFiles(path.join(dir, 'ch', 'disks'));
  assert.ok(files.length > 0);
  for (const f of files) assert.ok(!(await readFile(f)).includes(marker), `${f} holds plaintext`);
  assert.deepEqual(await wh.query("SELECT name FROM tenants WHERE id = 'ten_canary'"), [{ name: marker }]);
});

test('bound parameters carry any value verbatim', async () => {
  const nasty = "x' OR 1=1 --\\'; DROP TABLE events; \u0000";
  assert.deepEqual(await wh.query('SELECT {v:String} AS v', { params: { v: nasty } }), [{ v: nasty }]);
});

test('errors carry the ClickHouse code and a retry kind', async () => {
  await assert.rejects(wh.query('SELECT * FROM no_such_table'), (err: unknown) => {
    assert.ok(err instanceof WarehouseError);
    assert.equal(err.clickhouseCode, 60);
    assert.equal(err.kind, 'other');
    return true;
  });
  await assert.rejects(wh.insertJson('events', Buffer.from('{"timestamp":"not a time"}')), (err: unknown) => {
    assert.ok(err instanceof WarehouseError);
    assert.equal(err.kind, 'data');
    return true;
  });
});

test('a slow statement on one connection does not hold up another', async () => {
  const slow = wh.query('SELECT sum(sipHash64(number)) AS s FROM numbers(60000000)');
  await new Promise((r) => setTimeout(r, 30));
  const started = performance.now();
  await wh.query('SELECT 1 AS one');
  const quick = performance.now() - started;
  await slow;
  assert.ok(quick < 500, `SELECT 1 waited ${quick} ms behind the scan`);
});

test('an applied migration that was edited stops the runner', async () => {
  const copy = path.join(copies, 'edited');
  await cp(MIGRATIONS_DIR, copy, { recursive: true });
  const first = (await readdir(copy)).filter((f) => f.endsWith('.sql')).sort()[0] ?? '';
  await writeFile(path.join(copy, first), (await readFile(path.join(copy, first), 'utf8')) + '\n-- edited\n');
  await assert.rejects(migrationStatus(wh, copy), /was edited after it was applied/);
  await assert.rejects(migrate(wh, { dir: copy }), /was edited after it was applied/);
});

test('a failing pre-migration hook stops the migration before anything runs', async () => {
  const copy = path.join(copies, 'with-probe');
  await cp(MIGRATIONS_DIR, copy, { recursive: true });
  await writeFile(path.join(copy, '9999_probe.sql'), 'CREATE TABLE probe (a UInt8) ENGINE = MergeTree ORDER BY a;\n');
  await assert.rejects(migrate(wh, { dir: copy, beforeApply: async () => { throw new Error('backup failed'); } }), /backup failed/);
  assert.deepEqual(await wh.query("SELECT name FROM system.tables WHERE database = 'palisade' AND name = 'probe'"), []);
});

test('a row with a lone surrogate inserts as U+FFFD through jsonRow; as JSON.stringify writes it, the engine refuses the INSERT', async () => {
  await wh.command('CREATE TABLE IF NOT EXISTS text_probe (id UInt32, s String) ENGINE = Memory');
  const odd = ['half an emoji \ud83d', '\udc00 low first', 'pair intact \ud83d\ude00', 'plain'];
  await assert.rejects(
    wh.insertJson('text_probe', Buffer.from(JSON.stringify({ id: 0, s: odd[0] }))),
    (err: unknown) => err instanceof WarehouseError && /CANNOT_PARSE_ESCAPE_SEQUENCE/.test(err.message),
  );
  await wh.insertJson('text_probe', Buffer.from(odd.map((s, i) => jsonRow({ id: i + 1, s })).join('\n')));
  const rows = await wh.query<{ s: string }>('SELECT s FROM text_probe ORDER BY id');
  assert.deepEqual(
    rows.map((r) => r.s),
    ['half an emoji \ufffd', '\ufffd low first', 'pair intact \ud83d\ude00', 'plain'],
  );
  await wh.command('DROP TABLE text_probe');
});

test('statements split on line-ending semicolons and skip comments', () => {
  assert.deepEqual(splitStatements('-- c\nCREATE TABLE a (x UInt8);\n\nSELECT 1;\n'), ['CREATE TABLE a (x UInt8)', 'SELECT 1']);
});

// Last: it closes the engine. The engine runs a statement on a libuv thread and
// has no way to interrupt it; a process that exits while one still runs tears
// the engine down under it (the server segfaulted so at shutdown, in
// libchdb.so). close() therefore returns only once nothing runs on it.
test('close() returns only once the statements still running on the engine have finished', async () => {
  const slow = wh.query('SELECT sum(sleepEachRow(0.3)) AS s FROM numbers(3)').then(
    () => 'finished',
    () => 'finished',
  );
  await new Promise((r) => setTimeout(r, 50));
  await wh.close();
  const state = await Promise.race([slow, new Promise((r) => setImmediate(() => r('still running')))]);
  assert.equal(state, 'finished');
});
