/**
 * Both Warehouse adapters, one contract: the same migrations, bound
 * parameters, inserts, dedup tokens and error classification on chDB
 * in-process and on a ClickHouse server through @clickhouse/client (the real
 * server at CLICKHOUSE_URL, else the test bridge).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChdbWarehouse } from '../src/storage/chdb-warehouse.ts';
import { compactLine, EVENT_COLUMNS, EventWriter } from '../src/storage/event-writer.ts';
import type { EventRow } from '../schemas/event-row.ts';
import { loadMigrations, migrate, migrationStatus } from '../src/storage/migrations.ts';
import { WarehouseError, type Warehouse } from '../src/storage/warehouse.ts';
import { serverBackend, type Backend } from './helpers/clickhouse-backend.ts';
import { removeDir, tempDir } from './helpers/palisade.ts';

let dir: string;
let server: Backend;
const adapters: { name: string; wh: Warehouse }[] = [];

before(async () => {
  dir = await tempDir('palisade-contract-');
  server = await serverBackend();
  adapters.push({
    name: 'chdb',
    wh: await ChdbWarehouse.open({
      path: path.join(dir, 'engine'), database: 'palisade', diskKeyHex: randomBytes(32).toString('hex'),
      backupsPath: path.join(dir, 'backups'), timeoutMs: 30_000,
    }),
  });
  adapters.push({ name: `@clickhouse/client (${server.label})`, wh: await server.open('') });
});

after(async () => {
  for (const a of adapters) await a.wh.close();
  await server.close();
  await removeDir(dir);
});

async function each(fn: (wh: Warehouse, name: string) => Promise<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const a of adapters) out.push(await fn(a.wh, a.name));
  return out;
}

/** The same value from both adapters: the whole point of the contract. */
function same(values: unknown[]): unknown {
  assert.equal(values.length, 2);
  assert.deepEqual(values[1], values[0], 'the server adapter differs from the embedded one');
  return values[0];
}

async function code(p: Promise<unknown>): Promise<{ kind: string; code: number | undefined }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WarehouseError, `expected a WarehouseError, got ${String(err)}`);
    // The text reads the same from both adapters (dead letters keep it as their reason).
    if (err.clickhouseCode !== undefined) assert.match(err.message, new RegExp(`^[a-z_ ]+: Code: ${err.clickhouseCode}\\. DB::Exception: .+\\([A-Z_]+\\)`, 's'));
    return { kind: err.kind, code: err.clickhouseCode };
  }
  assert.fail('expected the call to fail');
}

describe('warehouse contract: chdb and @clickhouse/client', () => {
  test('migrations apply once and report the same status', async () => {
    const applied = same(await each(async (wh) => (await migrate(wh)).map((m) => m.name)));
    assert.deepEqual(applied, (await loadMigrations()).map((m) => m.name));
    same(await each(async (wh) => (await migrate(wh)).length));
    same(await each(async (wh) => (await migrationStatus(wh)).applied));
    same(await each(async (wh) => (await wh.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")).map((r) => r.name)));
  });

  test('bound parameters survive quotes, backslashes, tabs, newlines and unicode', async () => {
    const nasty = "it's a \\ back\tslash\nand ' quote \u00e9\u{1F600}";
    const rows = same(await each((wh) => wh.query(
      'SELECT {s:String} AS s, {n:UInt32} AS n, {a:Array(String)} AS a, length({a:Array(String)}) AS l, {i:Identifier} AS ident FROM (SELECT 1 AS x)',
      { params: { s: nasty, n: 42, a: [nasty, 'b', ''], i: 'x' } },
    ))) as { s: string; n: number; a: string[]; l: string }[];
    assert.equal(rows[0]?.s, nasty);
    assert.deepEqual(rows[0]?.a, [nasty, 'b', '']);
    assert.equal(rows[0]?.n, 42);
  });

  test('inserts, JSON columns, 64-bit integers and DateTime64 read back identically', async () => {
    const t = `ten_${randomBytes(6).toString('hex')}`;
    const row = (id: string) => ({
      tenant_id: t, message_id: id, type: 'track', event: 'E', user_id: 'u', anonymous_id: '', group_id: '', previous_id: '',
      timestamp: '2026-01-02 03:04:05.678', original_timestamp: null, sent_at: null, received_at: '2026-01-02 03:04:05.678',
      properties: { plan: 'pro', n: 1, nested: { a: [1, 2] } }, traits: {}, context: { library: { name: 'x' } },
      ip: '', user_agent: '', key_id: 'k',
    });
    const payload = Buffer.from([row('m1'), row('m2')].map((r) => JSON.stringify(r)).join('\n'));
    await each((wh) => wh.insertJson('events', payload, { settings: { insert_deduplication_token: `${t}_a` } }));
    // The same token again: dropped by the engine on both paths.
    await each((wh) => wh.insertJson('events', payload, { settings: { insert_deduplication_token: `${t}_a` } }));
    const read = same(await each((wh) => wh.query(
      'SELECT message_id, timestamp, toJSONString(properties) AS p, count() OVER () AS total FROM events WHERE tenant_id = {t:String} ORDER BY message_id',
      { params: { t } },
    )));
    assert.deepEqual(read, [
      { message_id: 'm1', timestamp: '2026-01-02 03:04:05.678', p: '{"n":1,"nested":{"a":[1,2]},"plan":"pro"}', total: 2 },
      { message_id: 'm2', timestamp: '2026-01-02 03:04:05.678', p: '{"n":1,"nested":{"a":[1,2]},"plan":"pro"}', total: 2 },
    ]);
  });

  test('compact inserts (JSONCompactEachRow, the columns named) read back as the same rows, bots and JSON columns included', async () => {
    const t = `ten_${randomBytes(6).toString('hex')}`;
    const row = (id: string, isBot?: 0 | 1): EventRow => ({
      tenant_id: t, message_id: id, type: 'track', event: 'E', user_id: 'u', anonymous_id: '', group_id: '', previous_id: '',
      timestamp: '2026-01-02 03:04:05.678', original_timestamp: null, sent_at: '2026-01-02 03:04:05.000', received_at: '2026-01-02 03:04:05.678',
      properties: { plan: 'pro', n: 1, quote: 'a"b\\c\n', nested: { a: [1, 2] } }, traits: {}, context: { library: { name: 'x' } },
      ip: '', user_agent: '', key_id: 'k', ...(isBot === undefined ? {} : { is_bot: isBot }),
    });
    const payload = Buffer.from([row('c1'), row('c2', 1)].map(compactLine).join(''));
    const options = { format: 'JSONCompactEachRow', columns: EVENT_COLUMNS, settings: { insert_deduplication_token: `${t}_c` } } as const;
    await each((wh) => wh.insertJson('events', payload, options));
    await each((wh) => wh.insertJson('events', payload, options));
    const read = same(await each((wh) => wh.query(
      'SELECT message_id, sent_at, is_bot, toJSONString(properties) AS p, count() OVER () AS total FROM events WHERE tenant_id = {t:String} ORDER BY message_id',
      { params: { t } },
    )));
    const p = '{"n":1,"nested":{"a":[1,2]},"plan":"pro","quote":"a\\"b\\\\c\\n"}';
    assert.deepEqual(read, [
      { message_id: 'c1', sent_at: '2026-01-02 03:04:05.000', is_bot: 0, p, total: 2 },
      { message_id: 'c2', sent_at: '2026-01-02 03:04:05.000', is_bot: 1, p, total: 2 },
    ]);
    // A compact insert names its columns, and only plain names: checked before anything is sent.
    await each(async (wh) => {
      await assert.rejects(wh.insertJson('events', payload, { format: 'JSONCompactEachRow' }), /names its columns/);
      await assert.rejects(wh.insertJson('events', payload, { format: 'JSONCompactEachRow', columns: ['tenant_id) SELECT 1 --'] }), /invalid column name/);
    });
  });

  test('message-id lookups of the longest, most escaped ids fit a server URL, and find every id', async () => {
    // 256 characters (the guard's cap), nearly all quotes: each takes 6 URL characters on the server path,
    // so 1,500 of them would be a 2.3 MB URL in one lookup; the bridge refuses over 1 MiB, as a server does.
    const t = `ten_${randomBytes(6).toString('hex')}`;
    const rows: EventRow[] = Array.from({ length: 1_500 }, (_, i) => ({
      tenant_id: t, message_id: `${i}\\é`.padEnd(256, "'"), type: 'track', event: 'E', user_id: 'u', anonymous_id: '', group_id: '', previous_id: '',
      timestamp: '2026-01-02 03:04:05.678', original_timestamp: null, sent_at: null, received_at: '2026-01-02 03:04:05.678',
      properties: {}, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'k',
    }));
    const written = same(await each(async (wh) => {
      const writer = new EventWriter(wh);
      return [await writer.write(t, rows, `${t}_a`), await writer.write(t, rows, `${t}_b`)];
    }));
    assert.deepEqual(written, [{ inserted: 1_500, duplicates: 0, inserts: 1 }, { inserted: 0, duplicates: 1_500, inserts: 0 }]);
  });

  test('commands with parameters; 64-bit integers are numbers on both', async () => {
    const rows = same(await each(async (wh) => {
      await wh.command('CREATE TABLE IF NOT EXISTS contract_kv (k String, v UInt64) ENGINE = MergeTree ORDER BY k');
      await wh.command('INSERT INTO contract_kv VALUES ({k:String}, {v:UInt64})', { params: { k: "o'k", v: 7 } });
      return await wh.query('SELECT k, v, count() OVER () AS n FROM contract_kv');
    }));
    assert.deepEqual(rows, [{ k: "o'k", v: 7, n: 1 }]);
  });

  test('errors carry the numeric ClickHouse code and classify the same', async () => {
    // Unknown table: not the data's fault, not retryable by waiting.
    assert.deepEqual(same(await each((wh) => code(wh.query('SELECT * FROM no_such_table')))), { kind: 'other', code: 60 });
    // A row ClickHouse cannot parse: the data's fault, dead-letter it.
    const bad = Buffer.from('{"k": "x", "v": "not a number"}');
    const parse = same(await each((wh) => code(wh.insertJson('contract_kv', bad)))) as { kind: string };
    assert.equal(parse.kind, 'data');
    // The engine's own time limit: shrink the batch and retry.
    // (TIMEOUT_EXCEEDED 159, or TOO_SLOW 160 when the engine predicts the overrun.)
    const limit = same(await each((wh) => code(wh.query('SELECT sleepEachRow(0.25) FROM numbers(40)', { settings: { max_execution_time: 1 }, timeoutMs: 20_000 })))) as { kind: string };
    assert.equal(limit.kind, 'limit');
  });

  test('ping reports the version; a server that is down is unavailable, not a data error', async () => {
    const pings = (await each((wh) => wh.ping())) as { ok: boolean; version?: string }[];
    assert.ok(pings.every((p) => p.ok && p.version));
    const wh = adapters[1]!.wh;
    await server.down();
    try {
      assert.deepEqual(await wh.ping(), { ok: false });
      assert.deepEqual(await code(wh.query('SELECT 1')), { kind: 'unavailable', code: undefined });
    } finally {
      await server.up();
    }
    assert.equal((await wh.ping()).ok, true);
  });
});
