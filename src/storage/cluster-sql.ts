/**
 * The one place run-time SQL learns about the cluster variant.
 * Reads and inserts name the logical table (`events`): on a cluster that is
 * the Distributed table, which fans reads out and routes inserts by tenant.
 * What a Distributed table cannot do goes through these helpers instead, so
 * no caller builds cluster SQL by hand:
 * - mutations, lightweight DELETE and partition operations on a sharded
 *   table run on its `<t>_local` table ON CLUSTER (every shard; within a
 *   shard Keeper carries them to the other replicas);
 * - on a replicated control-plane table they run as written: Keeper carries
 *   them to every replica, which is every node;
 * - system.parts is read from every replica (clusterAllReplicas) or one per
 *   shard (cluster) with the table's stored name;
 * - BACKUP/RESTORE and scratch databases get ON CLUSTER.
 * Without a cluster every helper returns the plain single-node SQL.
 */
import { assertIdent, localName, LOCAL_SUFFIX, renderForCluster, SHARDED_TABLES } from './cluster-ddl.ts';

export interface Topology {
  readonly database: string;
  /** PALISADE_CLICKHOUSE_CLUSTER; undefined on a single node or the embedded engine. */
  readonly cluster?: string;
}

function quote(name: string): string {
  return `\`${assertIdent('identifier', name)}\``;
}

function sharded(t: Topology, table: string): t is Topology & { cluster: string } {
  return t.cluster !== undefined && SHARDED_TABLES.has(table);
}

/** ` ON CLUSTER `c`` on a cluster, '' otherwise. */
export function onCluster(t: Topology): string {
  return t.cluster ? ` ON CLUSTER ${quote(t.cluster)}` : '';
}

/** The table that holds the parts: `<t>_local` for a sharded table on a cluster. */
export function storageName(t: Topology, table: string): string {
  return sharded(t, table) ? localName(table) : table;
}

/** The logical name of a stored table (`events_local` → `events` on a cluster). */
export function logicalName(t: Topology, stored: string): string {
  if (!t.cluster || !stored.endsWith(LOCAL_SUFFIX)) return stored;
  const base = stored.slice(0, -LOCAL_SUFFIX.length);
  return SHARDED_TABLES.has(base) ? base : stored;
}

/** Where a mutation, lightweight DELETE or partition operation on `table` must go. */
export function storageTarget(t: Topology, table: string): string {
  return sharded(t, table) ? `${quote(localName(table))}${onCluster(t)}` : quote(table);
}

/** `ALTER TABLE <target> <action>`: DELETE/UPDATE mutations, DROP/REPLACE PARTITION. */
export function alterTable(t: Topology, table: string, action: string): string {
  return `ALTER TABLE ${storageTarget(t, table)} ${action}`;
}

/** A lightweight DELETE (a Distributed table has none). */
export function deleteFrom(t: Topology, table: string, where: string): string {
  return `DELETE FROM ${storageTarget(t, table)} WHERE ${where}`;
}

/**
 * system.parts: of every replica (`all`: for what exists anywhere, e.g. the
 * partitions to drop) or of one replica per shard (`one`: for sums such as
 * bytes on disk, which replicas would otherwise multiply).
 * Filter with `database = {db:String}` (never currentDatabase(): on a remote
 * replica that is the connection's default database).
 */
export function systemParts(t: Topology, replicas: 'all' | 'one' = 'all'): string {
  if (!t.cluster) return 'system.parts';
  return `${replicas === 'all' ? 'clusterAllReplicas' : 'cluster'}('${assertIdent('cluster name', t.cluster)}', system.parts)`;
}

/**
 * A table of another database (a scratch restore), read whole: on a cluster
 * a sharded table exists there only as `<t>_local` on each shard, so it is
 * read through cluster() (one replica per shard).
 */
export function readTable(t: Topology, database: string, table: string): string {
  if (sharded(t, table) && database !== t.database) return `cluster('${t.cluster}', '${assertIdent('database', database)}', '${localName(table)}')`;
  return `${quote(database)}.${quote(table)}`;
}

/** The table a BACKUP/RESTORE element names (the stored one: a Distributed table holds no data). */
export function backupTable(t: Topology, database: string, table: string): string {
  return `${quote(database)}.${quote(storageName(t, table))}`;
}

export function createDatabase(t: Topology, database: string): string {
  return `CREATE DATABASE ${quote(database)}${onCluster(t)}`;
}

export function dropDatabase(t: Topology, database: string): string {
  return `DROP DATABASE IF EXISTS ${quote(database)}${onCluster(t)} SYNC`;
}

/** A DDL statement (a migration, the ledgers' CREATE TABLE) as this topology runs it. */
export function ddlFor(t: Topology, statement: string): string[] {
  return t.cluster ? renderForCluster(statement, { cluster: t.cluster, database: t.database }) : [statement];
}
