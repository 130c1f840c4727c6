/**
 * The cluster variant end to end, on the test bridge's one-shard
 * emulation (helpers/cluster-backend.ts; no ClickHouse server, Keeper or
 * Docker here). What it proves: an edge on a cluster refuses to start on
 * pending migrations and `palisade migrate` applies them ON CLUSTER once;
 * events go through the Distributed table into the `_local` tables with
 * foreground inserts; retention, deletion on request, tenant deletion and a
 * backup with its verify and restore send their mutations, partition drops,
 * system.parts reads and BACKUP/RESTORE to the `_local` tables ON CLUSTER
 * (never to a Distributed table); a second edge on the same cluster starts
 * without migrating, authenticates the first edge's keys and sees a
 * revocation; `palisade migrate` runs beside a live edge under its own node id.
 * What it cannot prove: Keeper, the DDL queue and a second shard (the bridge
 * drops ON CLUSTER and Replicated after logging the statement as sent).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Warehouse } from '../src/storage/warehouse.ts';
import { clusterBackend, QUERY_LOGIN, SECOND_LOGIN, type ClusterBackend } from './helpers/cluster-backend.ts';
import { basic, createTenant, removeDir, runCli, startPalisade, stats, tempDir, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const DAY = 86_400_000;
// A mutation or partition operation aimed at a Distributed table (which has no parts: ClickHouse would refuse it).
const MUTATES_DISTRIBUTED = /^(ALTER TABLE `?(events|dead_letters|ingestion_warnings)`?( ON CLUSTER `palisade`)? (DELETE|UPDATE|DROP PARTITION|REPLACE PARTITION)|DELETE FROM `?(events|dead_letters|ingestion_warnings)`? )/;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
const ENV = { PALISADE_BACKUP_INTERVAL: 'off', PALISADE_NODE_ID: 'edge-1' };

let backend: ClusterBackend;
let dataDir: string;
let p: Palisade | undefined;
let wh: Warehouse;
let a: CreatedTenant;
let b: CreatedTenant;

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function statements(re: RegExp, user = 'default'): Promise<string[]> {
  return (await backend.sent()).filter((s) => s.user === user && re.test(s.statement)).map((s) => s.statement);
}

async function count(sql: string, params: Record<string, unknown>): Promise<number> {
  return Number((await wh.query<{ n: string }>(sql, { params }))[0]?.n);
}

before(async () => {
  backend = await clusterBackend();
  dataDir = await tempDir();
});

after(async () => {
  if (p && p.proc.exitCode === null) await p.kill();
  await wh?.close();
  await backend.close();
  await removeDir(dataDir);
});

test('on a cluster an edge refuses to start with pending migrations; `palisade migrate` applies them ON CLUSTER, once', async () => {
  await assert.rejects(startPalisade({ dataDir, env: { ...backend.env(), ...ENV } }), (err: Error) => {
    assert.match(err.message, /exited with 2/);
    assert.match(err.message, /migrations_pending: 8 migration\(s\) not applied .*run `palisade migrate` once/);
    return true;
  });
  const env = { ...process.env, ...backend.env(), ...ENV, PALISADE_DATA_DIR: dataDir, PALISADE_ADMIN_PORT: '0' };
  const plan = json<{ pending: { name: string; statements: string[] }[] }>(await runCli(['migrate', '--plan', '--json'], env));
  assert.equal(plan.pending.length, 8);
  assert.ok(plan.pending[1]?.statements.some((s) => s.startsWith('CREATE TABLE IF NOT EXISTS events ON CLUSTER `palisade` AS events_local')), 'the plan shows the rendered statements');
  const run = json<{ applied: { name: string }[] }>(await runCli(['migrate', '--json'], env));
  assert.equal(run.applied.length, 8);

  const creates = await statements(/^CREATE (TABLE|DATABASE)/);
  assert.ok(creates.length >= 15, `${creates.length} CREATE statements`);
  for (const s of creates) assert.match(s, /ON CLUSTER `palisade`/, s.split('\n')[0]);
  assert.ok(
    creates.some((s) => /^CREATE TABLE IF NOT EXISTS events_local ON CLUSTER `palisade`[\s\S]*ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/events_local', '\{replica\}'\)/.test(s)),
    'events_local: replicated per shard',
  );
  assert.ok(
    creates.some((s) => s.startsWith("CREATE TABLE IF NOT EXISTS events ON CLUSTER `palisade` AS events_local\nENGINE = Distributed('palisade', 'palisade', 'events_local', cityHash64(tenant_id))")),
    'events: Distributed, sharded by tenant',
  );
  assert.ok(
    creates.some((s) => /^CREATE TABLE IF NOT EXISTS tenants ON CLUSTER `palisade`[\s\S]*ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/all\/\{database\}\/tenants', '\{replica\}', version\)/.test(s)),
    'tenants: one replicated table for the whole cluster',
  );
  assert.ok(creates.some((s) => /^CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER `palisade`[\s\S]*ReplicatedMergeTree\('\/clickhouse\/tables\/all\//.test(s)), 'one ledger for the cluster');
  assert.deepEqual(await statements(/^ALTER TABLE events/), [
    'ALTER TABLE events_local ON CLUSTER `palisade` ADD COLUMN IF NOT EXISTS is_bot UInt8 DEFAULT 0',
    'ALTER TABLE events ON CLUSTER `palisade` ADD COLUMN IF NOT EXISTS is_bot UInt8 DEFAULT 0',
  ]);
  // Applied again: nothing pending, nothing sent.
  const again = json<{ applied: unknown[]; message: string }>(await runCli(['migrate', '--json'], env));
  assert.deepEqual(again.applied, []);

  wh = await backend.open(dataDir);
  const engines = new Map((await wh.query<{ name: string; engine: string }>("SELECT name, engine FROM system.tables WHERE database = 'palisade'")).map((r) => [r.name, r.engine]));
  for (const t of ['events', 'ingestion_warnings', 'dead_letters']) {
    assert.equal(engines.get(t), 'Distributed', t);
    assert.ok(engines.get(`${t}_local`)?.endsWith('MergeTree'), `${t}_local`);
  }
  assert.equal(engines.get('tenants'), 'ReplacingMergeTree');
  assert.equal(engines.has('tenants_local'), false, 'control-plane tables are replicated, not sharded');
});

test('events go through the Distributed table into events_local, with foreground inserts', async () => {
  p = await startPalisade({ dataDir, env: { ...backend.env(), ...ENV, PALISADE_RETENTION_INTERVAL: '1h' } });
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const ev = (e: Record<string, unknown>) => ({ type: 'track', event: 'Clicked', ...e });
  const alpha = [ev({ userId: 'u1' }), ev({ userId: 'u1' }), ev({ userId: 'u2' }), ev({ userId: 'old', timestamp: iso(40 * DAY) }), ev({ userId: 'old3', timestamp: iso(3 * DAY) })];
  const beta = [ev({ userId: 'u1' }), ev({ userId: 'u9', timestamp: iso(40 * DAY) })];
  assert.equal((await p.api('POST', '/v1/batch', { body: { batch: alpha }, headers: basic(a.keys.ingest) })).status, 200);
  assert.equal((await p.api('POST', '/v1/batch', { body: { batch: beta }, headers: basic(b.keys.ingest) })).status, 200);
  await waitFor(async () => (await stats(p as Palisade, a.tenant.id)).events === 5 && (await stats(p as Palisade, b.tenant.id)).events === 2, 10_000, 'events stored');

  assert.equal(await count('SELECT count() AS n FROM events_local WHERE tenant_id = {t:String}', { t: a.tenant.id }), 5, 'stored in the shard table');
  assert.ok((await stats(p, a.tenant.id)).bytesOnDisk > 0, "bytes on disk from the cluster's system.parts");
  const inserts = (await backend.sent()).filter((s) => /^INSERT INTO events\b/.test(s.statement));
  assert.ok(inserts.length >= 1, 'inserts into events');
  for (const s of inserts) assert.equal(s.settings.distributed_foreground_insert, '1', 'the flusher checkpoints only once every shard has the rows');
});

test('retention and deletion on request mutate the _local tables ON CLUSTER, never a Distributed table', async () => {
  const srv = p as Palisade;
  const r = json<{ retention: { enforced: { partitionsDropped: number; rowsDeleted: number } } }>(await srv.cli(['tenant', 'update', a.tenant.id, '--retention-days', '2', '--json']));
  assert.ok(r.retention.enforced.partitionsDropped >= 1, 'the month 40 days ago is dropped whole');
  assert.equal((await stats(srv, a.tenant.id)).events, 3);
  assert.equal((await stats(srv, b.tenant.id)).events, 2, "B's retention is B's own");

  const d = json<{ receipt: { eventsDeleted: number } }>(await srv.cli(['user', 'delete', 'u1', '--tenant', a.tenant.id, '--json']));
  assert.equal(d.receipt.eventsDeleted, 2);
  assert.equal(await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String} AND user_id = {u:String}', { t: a.tenant.id, u: 'u1' }), 0);
  assert.equal(await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String} AND user_id = {u:String}', { t: b.tenant.id, u: 'u1' }), 1, 'the same id in another tenant stays');

  assert.ok((await statements(/^ALTER TABLE `events_local` ON CLUSTER `palisade` DROP PARTITION ID '/)).length >= 1, 'DROP PARTITION ON CLUSTER');
  assert.ok((await statements(/^ALTER TABLE `events_local` ON CLUSTER `palisade` DELETE WHERE tenant_id = \{t:String\}/)).length >= 1, 'DELETE mutation ON CLUSTER');
  assert.ok((await statements(/^DELETE FROM `events_local` ON CLUSTER `palisade` WHERE tenant_id = \{t:String\}/)).length >= 1, 'lightweight DELETE ON CLUSTER');
  assert.ok((await statements(/FROM clusterAllReplicas\('palisade', system\.parts\)/)).length >= 1, 'system.parts of every replica');
  assert.deepEqual(await statements(MUTATES_DISTRIBUTED), [], 'no mutation on a Distributed table');
});

test('a tenant backup, its verify and its restore target the _local tables ON CLUSTER; the scratch copy is read across shards', async () => {
  const srv = p as Palisade;
  const created = json<{ backup: { id: string; status: string; tables: string[] } }>(await srv.cli(['backup', 'create', '--tenant', b.tenant.id, '--json']));
  assert.equal(created.backup.status, 'ok');
  assert.ok(created.backup.tables.includes('events'), 'the catalogue names tables by their logical name');
  const verified = json<{ ok: boolean; partitionsChecked: number }>(await srv.cli(['backup', 'verify', created.backup.id, '--json']));
  assert.equal(verified.ok, true);
  assert.ok(verified.partitionsChecked >= 2, `${verified.partitionsChecked} partitions checked`);
  const sent = async (re: RegExp) => (await statements(re)).length;
  assert.ok((await sent(/^BACKUP TABLE .*`palisade`\.`events_local` PARTITIONS ID '[^']+'.* ON CLUSTER `palisade` TO Disk\('backups', 'bak_/)) >= 1, 'BACKUP of events_local ON CLUSTER');
  assert.equal(await sent(/^BACKUP .*`palisade`\.`events`[ ,]/), 0, 'never the Distributed table');
  assert.ok((await sent(/^RESTORE TABLE .*`palisade`\.`events_local` AS `palisade_scratch_\w+`\.`events_local`.* ON CLUSTER `palisade` FROM Disk/)) >= 1, 'RESTORE ON CLUSTER');
  assert.ok((await sent(/FROM cluster\('palisade', 'palisade_scratch_\w+', 'events_local'\)/)) >= 1, 'the scratch copy read across shards');
  assert.ok((await sent(/^DROP DATABASE IF EXISTS `palisade_scratch_\w+` ON CLUSTER `palisade` SYNC/)) >= 1, 'scratch dropped ON CLUSTER');

  // Restore: each shard replaces the tenant's partitions from its own scratch copy.
  const before = await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: b.tenant.id });
  const restored = json<{ tables: { table: string; how: string; partitions: number }[] }>(await srv.cli(['backup', 'restore', created.backup.id, '--json']));
  const events = restored.tables.find((t) => t.table === 'events');
  assert.deepEqual([events?.how, events?.partitions], ['partitions replaced', 2]);
  assert.equal(await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: b.tenant.id }), before);
  assert.ok((await sent(/^ALTER TABLE `events_local` ON CLUSTER `palisade` REPLACE PARTITION ID '[^']+' FROM `palisade_scratch_\w+`\.`events_local`/)) >= 2, 'REPLACE PARTITION ON CLUSTER');
  assert.ok((await sent(/^DELETE FROM `dead_letters_local` ON CLUSTER `palisade` WHERE `tenant_id` = \{t:String\}/)) >= 1, "the tenant's dead letters replaced on every shard");
});

test('a second edge on the same cluster starts without migrating, serves the same keys and sees a revocation; its query login sends no cluster insert setting', async () => {
  const srv = p as Palisade;
  const second = await startPalisade({
    env: {
      ...backend.env(),
      CLICKHOUSE_USER: SECOND_LOGIN.user,
      CLICKHOUSE_PASSWORD: SECOND_LOGIN.password,
      CLICKHOUSE_QUERY_USER: QUERY_LOGIN.user,
      CLICKHOUSE_QUERY_PASSWORD: QUERY_LOGIN.password,
      PALISADE_BACKUP_INTERVAL: 'off',
      PALISADE_NODE_ID: 'edge-2',
      PALISADE_KEY_REFRESH_MS: '200',
    },
  });
  try {
    assert.deepEqual(await statements(/^(CREATE|ALTER|DROP|INSERT INTO schema_migrations)/, SECOND_LOGIN.user), [], 'the second edge sent no DDL at start');
    assert.equal((await second.api('POST', '/v1/track', { body: { event: 'From edge 2', userId: 'e2' }, headers: basic(b.keys.ingest) })).status, 200);
    await waitFor(async () => (await stats(srv, b.tenant.id)).events === 3, 10_000, 'an event through edge 2, seen from edge 1');
    // The query login is readonly on a real server: a session setting its profile does not allow is refused (code 164).
    const q = await second.api('POST', '/v1/query', { body: { kind: 'events', limit: 5 }, headers: { authorization: `Bearer ${b.keys.query}` } });
    assert.equal(q.status, 200, q.text);
    const sentByQuery = (await backend.sent()).filter((s) => s.user === QUERY_LOGIN.user);
    assert.ok(sentByQuery.some((s) => /FROM `?events`?/.test(s.statement)), 'the query ran as the query login');
    assert.deepEqual(sentByQuery.filter((s) => 'distributed_foreground_insert' in s.settings).map((s) => s.statement), []);
    const inserts = (await backend.sent()).filter((s) => s.user === SECOND_LOGIN.user && /^INSERT INTO `?events`?/.test(s.statement));
    assert.ok(inserts.length > 0 && inserts.every((s) => s.settings.distributed_foreground_insert === '1'), 'inserts stay in the foreground');
    assert.equal(await count('SELECT count() AS n FROM (SELECT DISTINCT version FROM schema_migrations)', {}), 8);

    const keyId = /^pal_sk_([A-Za-z0-9]+)_/.exec(b.keys.ingest)?.[1];
    assert.ok(keyId, 'key id in the token');
    assert.equal((await srv.admin('DELETE', `/admin/keys/${keyId}`)).status, 200);
    await waitFor(async () => (await second.api('POST', '/v1/track', { body: { event: 'x', userId: 'e2' }, headers: basic(b.keys.ingest) })).status === 401, 10_000, 'the revocation on edge 2');
  } finally {
    await second.kill();
    await removeDir(second.dataDir);
  }
});

test('`palisade migrate` runs beside a live edge on a cluster, but never as the same audit chain', async () => {
  const srv = p as Palisade;
  const same = await srv.cli(['migrate']);
  assert.notEqual(same.code, 0);
  assert.match(same.stderr, /writes audit chain edge-1, which this migration would write too; run it with its own node id, e\.g\. PALISADE_NODE_ID=edge-1-migrate/);
  const job = json<{ applied: unknown[] }>(await srv.cli(['migrate', '--json'], { PALISADE_NODE_ID: 'migrate-job' }));
  assert.deepEqual(job.applied, []);
  assert.equal((await srv.admin('GET', '/healthz')).status, 200, 'the edge kept serving');
});

test('a tenant deletion drops its partitions on every shard', async () => {
  const srv = p as Palisade;
  const others = await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: b.tenant.id });
  assert.ok(others >= 3, `${others} events of B`);
  json(await srv.cli(['tenant', 'delete', a.tenant.id, '--yes', '--json']));
  assert.equal(await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: a.tenant.id }), 0);
  assert.equal(await count('SELECT count() AS n FROM events_local WHERE tenant_id = {t:String}', { t: a.tenant.id }), 0);
  assert.equal(await count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: b.tenant.id }), others, "B's events untouched");
  assert.ok((await statements(/^ALTER TABLE `events_local` ON CLUSTER `palisade` DROP PARTITION ID '/)).length >= 2, 'the tenant partitions dropped ON CLUSTER');
  assert.deepEqual(await statements(MUTATES_DISTRIBUTED), []);
});
