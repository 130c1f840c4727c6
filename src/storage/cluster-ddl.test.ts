/**
 * The cluster renderer: every migration file renders, a few
 * statements against golden text, the table classification is complete, and
 * the rendering refuses what it cannot do safely. The last test parses every
 * rendered statement (and the run-time cluster SQL) with ClickHouse's own
 * parser through chDB, so a syntax slip fails here rather than on a cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REGISTRY_DDL } from '../ops/backup-registry.ts';
import { backupStatement } from '../ops/backup-plan.ts';
import { ClusterDdlError, REPLICATED_TABLES, renderAllForCluster, renderForCluster, SHARDED_TABLES } from './cluster-ddl.ts';
import * as sql from './cluster-sql.ts';
import { LEDGER_DDL, loadMigrations, splitStatements } from './migrations.ts';

const T = { cluster: 'palisade', database: 'analytics' };

const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

test('events: a replicated _local table per shard and a Distributed table sharded by tenant (golden)', async () => {
  const m = (await loadMigrations()).find((x) => x.name === '0002_events');
  assert.ok(m);
  const out = renderAllForCluster(m.statements, T);
  assert.equal(out.length, 2);
  assert.match(out[0] as string, /^CREATE TABLE IF NOT EXISTS events_local ON CLUSTER `palisade`\n\(\n {4}tenant_id String,/);
  assert.equal(
    norm((out[0] as string).slice((out[0] as string).indexOf('INDEX message_id_bf'))),
    norm(`INDEX message_id_bf message_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}')
PARTITION BY (tenant_id, toYYYYMM(timestamp))
ORDER BY (tenant_id, toDate(timestamp), event, message_id)
SETTINGS replicated_deduplication_window = 10000`),
  );
  assert.equal(
    out[1],
    "CREATE TABLE IF NOT EXISTS events ON CLUSTER `palisade` AS events_local\nENGINE = Distributed('palisade', 'analytics', 'events_local', cityHash64(tenant_id))",
  );
});

test('control-plane tables: one replicated table across every node, engine arguments kept (golden)', () => {
  const out = renderForCluster(
    `CREATE TABLE IF NOT EXISTS tenants
(
    id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id`,
    T,
  );
  assert.deepEqual(out, [
    "CREATE TABLE IF NOT EXISTS tenants ON CLUSTER `palisade`\n(\n    id String,\n    version UInt64\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/tenants', '{replica}', version)\nORDER BY id",
  ]);
});

test('ALTER on a sharded table goes to _local ON CLUSTER, and to the Distributed table when columns change', async () => {
  const m = (await loadMigrations()).find((x) => x.name === '0007_events_is_bot');
  assert.ok(m);
  assert.deepEqual(renderAllForCluster(m.statements, T), [
    'ALTER TABLE events_local ON CLUSTER `palisade` ADD COLUMN IF NOT EXISTS is_bot UInt8 DEFAULT 0',
    'ALTER TABLE events ON CLUSTER `palisade` ADD COLUMN IF NOT EXISTS is_bot UInt8 DEFAULT 0',
  ]);
  // A TTL change concerns the stored parts only: the Distributed table has none.
  assert.deepEqual(renderForCluster('ALTER TABLE dead_letters MODIFY TTL toDateTime(at) + INTERVAL 7 DAY', T), [
    'ALTER TABLE dead_letters_local ON CLUSTER `palisade` MODIFY TTL toDateTime(at) + INTERVAL 7 DAY',
  ]);
  // A replicated table's change travels through Keeper to every replica: no ON CLUSTER (it would run once per shard).
  assert.deepEqual(renderForCluster('ALTER TABLE tenants ADD COLUMN IF NOT EXISTS plan String', T), ['ALTER TABLE tenants ADD COLUMN IF NOT EXISTS plan String']);
  assert.deepEqual(renderForCluster('DROP TABLE IF EXISTS events', T), [
    'DROP TABLE IF EXISTS events ON CLUSTER `palisade` SYNC',
    'DROP TABLE IF EXISTS events_local ON CLUSTER `palisade` SYNC',
  ]);
});

test('every migration file renders; every table it creates is classified; rendering is deterministic', async () => {
  const migrations = await loadMigrations();
  assert.ok(migrations.length >= 7);
  const created = new Set<string>();
  for (const m of migrations) {
    const a = renderAllForCluster(m.statements, T);
    assert.deepEqual(renderAllForCluster(m.statements, T), a, `${m.name} renders the same twice`);
    assert.ok(a.length >= m.statements.length, m.name);
    for (const s of a) {
      assert.match(s, /ON CLUSTER `palisade`|^ALTER TABLE (?!\w+_local)/, `${m.name}: ${s.slice(0, 60)}`);
      assert.doesNotMatch(s, /non_replicated_deduplication_window/, 'a replicated table uses the replicated dedup window');
      const c = /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(s);
      if (c) created.add(c[1] as string);
    }
  }
  for (const t of SHARDED_TABLES) assert.ok(created.has(t) && created.has(`${t}_local`), `${t} and ${t}_local created`);
  for (const t of created) if (!t.endsWith('_local')) assert.ok(SHARDED_TABLES.has(t) || REPLICATED_TABLES.has(t), t);
  // The code-owned ledgers render too.
  assert.match(renderForCluster(LEDGER_DDL, T)[0] as string, /ReplicatedMergeTree\('\/clickhouse\/tables\/all\/\{database\}\/schema_migrations', '\{replica\}'\)/);
  assert.match(renderForCluster(REGISTRY_DDL, T)[0] as string, /ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/all\/\{database\}\/backups', '\{replica\}', version\)/);
});

test('refuses what it cannot render safely, with a reason', () => {
  const refuses = (s: string, re: RegExp, t = T) => assert.throws(() => renderForCluster(s, t), (e: unknown) => e instanceof ClusterDdlError && re.test(e.message));
  refuses('CREATE TABLE IF NOT EXISTS new_thing (id String) ENGINE = MergeTree ORDER BY id', /neither sharded nor replicated.*SHARDED_TABLES/);
  refuses("CREATE TABLE events (tenant_id String) ENGINE = ReplicatedMergeTree('/x', 'r') ORDER BY tenant_id", /plain engine/);
  refuses('CREATE TABLE events (tenant_id String) ENGINE = Memory', /MergeTree engine/);
  refuses('CREATE TABLE dead_letters (id String) ENGINE = MergeTree ORDER BY id', /tenant_id String column/);
  refuses('INSERT INTO tenants VALUES (1)', /supported: CREATE TABLE, ALTER TABLE, DROP TABLE/);
  refuses('CREATE VIEW v AS SELECT 1', /cannot render/);
  refuses('ALTER TABLE tenants ADD COLUMN x String', /cluster name/, { cluster: 'pal; DROP', database: 'x' });
  refuses('ALTER TABLE tenants ADD COLUMN x String', /database name/, { cluster: 'c', database: 'a`b' });
  // Already ON CLUSTER in the file: not rewritten twice.
  refuses('ALTER TABLE events ON CLUSTER c ADD COLUMN x String', /cannot render/);
});

test('run-time helpers: single node unchanged, cluster routes to _local ON CLUSTER / clusterAllReplicas', () => {
  const one = { database: 'palisade' };
  const many = { database: 'palisade', cluster: 'palisade' };
  assert.equal(sql.alterTable(one, 'events', 'DROP PARTITION ID \'x\''), "ALTER TABLE `events` DROP PARTITION ID 'x'");
  assert.equal(sql.alterTable(many, 'events', 'DROP PARTITION ID \'x\''), "ALTER TABLE `events_local` ON CLUSTER `palisade` DROP PARTITION ID 'x'");
  assert.equal(sql.alterTable(many, 'deletion_receipts', 'UPDATE a = 1 WHERE 1'), 'ALTER TABLE `deletion_receipts` UPDATE a = 1 WHERE 1');
  assert.equal(sql.deleteFrom(many, 'dead_letters', 'tenant_id = {t:String}'), 'DELETE FROM `dead_letters_local` ON CLUSTER `palisade` WHERE tenant_id = {t:String}');
  assert.equal(sql.deleteFrom(one, 'dead_letters', 'tenant_id = {t:String}'), 'DELETE FROM `dead_letters` WHERE tenant_id = {t:String}');
  assert.equal(sql.systemParts(one), 'system.parts');
  assert.equal(sql.systemParts(many), "clusterAllReplicas('palisade', system.parts)");
  assert.equal(sql.systemParts(many, 'one'), "cluster('palisade', system.parts)");
  assert.equal(sql.storageName(many, 'events'), 'events_local');
  assert.equal(sql.storageName(many, 'tenants'), 'tenants');
  assert.equal(sql.storageName(one, 'events'), 'events');
  assert.equal(sql.logicalName(many, 'events_local'), 'events');
  assert.equal(sql.logicalName(many, 'tenants'), 'tenants');
  assert.equal(sql.logicalName(one, 'events_local'), 'events_local');
  assert.equal(sql.readTable(many, 'scratch', 'events'), "cluster('palisade', 'scratch', 'events_local')");
  assert.equal(sql.readTable(many, 'palisade', 'events'), '`palisade`.`events`');
  assert.equal(sql.readTable(many, 'scratch', 'tenants'), '`scratch`.`tenants`');
  assert.equal(sql.createDatabase(many, 's1'), 'CREATE DATABASE `s1` ON CLUSTER `palisade`');
  assert.equal(sql.dropDatabase(one, 's1'), 'DROP DATABASE IF EXISTS `s1` SYNC');
  assert.equal(
    backupStatement(many, [{ table: 'events', partitions: ['abc'] }, { table: 'tenants' }], "Disk('backups', 'bak_1')"),
    "BACKUP TABLE `palisade`.`events_local` PARTITIONS ID 'abc', TABLE `palisade`.`tenants` ON CLUSTER `palisade` TO Disk('backups', 'bak_1')",
  );
  assert.equal(backupStatement(one, [{ table: 'events' }], "Disk('backups', 'b')"), "BACKUP TABLE `palisade`.`events` TO Disk('backups', 'b')");
  assert.throws(() => sql.alterTable(many, 'events; DROP', 'x'), ClusterDdlError);
});

test('every rendered statement and run-time cluster statement parses with ClickHouse\'s own parser (chDB)', async () => {
  const { Session } = await import('chdb');
  const session = new Session();
  try {
    const statements = [
      ...(await loadMigrations()).flatMap((m) => renderAllForCluster(m.statements, T)),
      ...renderForCluster(LEDGER_DDL, T),
      ...renderForCluster(REGISTRY_DDL, T),
      ...renderForCluster('DROP TABLE IF EXISTS events', T),
      ...renderForCluster('ALTER TABLE dead_letters MODIFY TTL toDateTime(at) + INTERVAL 7 DAY', T),
    ];
    const c = { database: 'palisade', cluster: 'palisade' };
    const runtime = [
      sql.alterTable(c, 'events', "DROP PARTITION ID 'abc'"),
      sql.alterTable(c, 'events', 'DELETE WHERE tenant_id = {t:String} AND user_id IN {u:Array(String)}'),
      sql.alterTable(c, 'events', `REPLACE PARTITION ID 'abc' FROM ${sql.backupTable(c, 'scratch', 'events')}`),
      sql.deleteFrom(c, 'dead_letters', 'tenant_id = {t:String} AND at < {c:DateTime64(3)}'),
      `SELECT DISTINCT partition_id FROM ${sql.systemParts(c)} WHERE database = {db:String} AND table = {tbl:String}`,
      `SELECT sum(bytes_on_disk) FROM ${sql.systemParts(c, 'one')} WHERE database = {db:String}`,
      `SELECT _partition_id AS p, count() FROM ${sql.readTable(c, 'scratch', 'events')} GROUP BY p`,
      backupStatement(c, [{ table: 'events', partitions: ['abc', 'def'] }, { table: 'tenants' }], "Disk('backups', 'bak_x')"),
      `RESTORE TABLE ${sql.backupTable(c, 'palisade', 'events')} AS ${sql.backupTable(c, 'scratch', 'events')}${sql.onCluster(c)} FROM Disk('backups', 'bak_x')`,
      sql.createDatabase(c, 'scratch'),
      sql.dropDatabase(c, 'scratch'),
    ];
    for (const s of [...statements, ...runtime]) {
      for (const one of splitStatements(s)) {
        const r = await session.queryBindAsync('SELECT formatQuery({q:String}) AS f', { q: one }, { format: 'JSONEachRow' });
        const f = (JSON.parse(r.text()) as { f: string }).f;
        assert.ok(f.length > 0, one);
        // The parser kept what matters: the cluster clause and the engine.
        if (/ON CLUSTER/.test(one)) assert.match(f, /ON CLUSTER palisade/, one);
        if (/ENGINE = /.test(one)) assert.match(f, /ENGINE = (Replicated\w*MergeTree|Distributed)\(/, one);
      }
    }
    // And a slip does fail: the parser is really checking.
    await assert.rejects(session.queryBindAsync('SELECT formatQuery({q:String})', { q: 'CREATE TABLE x ON CLUSTER (a String) ENGINE = MergeTree' }, { format: 'JSONEachRow' }));
  } finally {
    session.close();
  }
});
