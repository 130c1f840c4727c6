/**
 * ops/clickhouse/cluster: the example 2-shard × 2-replica config is
 * read by ClickHouse's own config loader (chDB, as config.d files) into the
 * cluster Palisade is told about, with the macros the rendered migrations
 * use; every host's {replica} is unique across the cluster, as the
 * replicated control-plane tables (one Keeper path for all nodes) require.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { keeperPath } from '../src/storage/cluster-ddl.ts';
import { ROOT } from './helpers/palisade.ts';

const DIR = path.join(ROOT, 'ops', 'clickhouse', 'cluster');
const work = path.join(tmpdir(), `palisade-cluster-config-${process.pid}`);

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function macros(): Promise<Map<string, { shard: string; replica: string }>> {
  const out = new Map<string, { shard: string; replica: string }>();
  for (const f of (await readdir(path.join(DIR, 'macros'))).sort()) {
    const text = await readFile(path.join(DIR, 'macros', f), 'utf8');
    out.set(f.replace(/\.xml$/, ''), { shard: /<shard>([^<]+)<\/shard>/.exec(text)?.[1] ?? '', replica: /<replica>([^<]+)<\/replica>/.exec(text)?.[1] ?? '' });
  }
  return out;
}

test('one macros file per host of remote_servers; {replica} unique across the cluster, {shard} as listed', async () => {
  const text = await readFile(path.join(DIR, 'remote-servers.xml'), 'utf8');
  const hosts = [...text.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m, i) => [...(m[1] ?? '').matchAll(/<host>([^<]+)<\/host>/g)].map((h) => ({ host: h[1] as string, shard: String(i + 1) }))).flat();
  assert.equal(hosts.length, 4);
  const m = await macros();
  assert.deepEqual([...m.keys()].sort(), hosts.map((h) => h.host).sort());
  for (const h of hosts) assert.deepEqual(m.get(h.host), { shard: h.shard, replica: h.host });
  assert.equal(new Set([...m.values()].map((x) => x.replica)).size, 4);
  // The replicated tables' Keeper path has no {shard}: the unique {replica} is what keeps the four apart.
  assert.doesNotMatch(keeperPath('tenants'), /\{shard\}/);
  assert.match(keeperPath('events'), /\{shard\}/);
});

test("ClickHouse's config loader reads it: cluster `palisade` with 2 shards × 2 replicas, this host's macros", async () => {
  await mkdir(path.join(work, 'config.d'), { recursive: true });
  await writeFile(path.join(work, 'config.xml'), '<clickhouse></clickhouse>\n');
  await copyFile(path.join(DIR, 'remote-servers.xml'), path.join(work, 'config.d', 'remote-servers.xml'));
  await copyFile(path.join(DIR, 'macros', 'ch-2-1.xml'), path.join(work, 'config.d', 'macros.xml'));
  // from_env: the interserver secret comes from the server's environment.
  process.env.PALISADE_CLUSTER_SECRET = 'test-only-not-a-secret';
  const { Session } = await import('chdb');
  const session = new Session(path.join(work, 'engine'), { connectionArgs: [`--config-file=${path.join(work, 'config.xml')}`] });
  try {
    const rows = (q: string) => session.queryAsync(q, { format: 'JSONEachRow' }).then((r) => r.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    const replicas = await rows("SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = 'palisade' ORDER BY shard_num, replica_num");
    assert.deepEqual(
      replicas.map((r) => `${r.shard_num}/${r.replica_num} ${r.host_name}:${r.port}`),
      ['1/1 ch-1-1:9440', '1/2 ch-1-2:9440', '2/1 ch-2-1:9440', '2/2 ch-2-2:9440'],
    );
    assert.deepEqual(await rows('SELECT macro, substitution FROM system.macros ORDER BY macro'), [
      { macro: 'replica', substitution: 'ch-2-1' },
      { macro: 'shard', substitution: '2' },
    ]);
  } finally {
    session.close();
  }
});
