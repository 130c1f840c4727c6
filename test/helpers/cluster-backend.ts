/**
 * The cluster variant on the test bridge: `--cluster palisade`
 * gives chDB a one-shard cluster whose only replica is itself, so the
 * Distributed tables, cluster() and clusterAllReplicas() Palisade uses on a
 * cluster run for real, and emulates what chDB cannot run (ON CLUSTER DDL,
 * Replicated engines: see clickhouse-bridge.ts). Palisade runs the server
 * adapter with PALISADE_CLICKHOUSE_CLUSTER exactly as against a real cluster;
 * the bridge's --log shows what it sent before emulation.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ClickHouseServerWarehouse } from '../../src/storage/clickhouse-warehouse.ts';
import type { Warehouse } from '../../src/storage/warehouse.ts';
import { Bridge, type Backend } from './clickhouse-backend.ts';
import { removeDir, tempDir } from './palisade.ts';

export const CLUSTER = 'palisade';
/** A second login, so a test can tell a second edge's statements apart in the log. */
export const SECOND_LOGIN = { user: 'edge2', password: 'edge2-pw' };
/** A readonly-style query login (CLICKHOUSE_QUERY_USER) for the second edge. */
export const QUERY_LOGIN = { user: 'dash', password: 'dash-pw' };

export interface ClusterBackend extends Backend {
  /** The statements Palisade sent (as sent: ON CLUSTER, Replicated engines) and their settings. */
  sent(): Promise<{ user: string; statement: string; settings: Record<string, string> }[]>;
}

export async function clusterBackend(o: { migrateOnStart?: boolean } = {}): Promise<ClusterBackend> {
  const logDir = await tempDir('palisade-cluster-log-');
  const log = path.join(logDir, 'statements.jsonl');
  const bridge = await Bridge.start({ args: ['--cluster', CLUSTER, '--log', log, '--custom-settings-prefixes', 'SQL_', '--users', `${SECOND_LOGIN.user}:${SECOND_LOGIN.password},${QUERY_LOGIN.user}:${QUERY_LOGIN.password}`] });
  const env = {
    CLICKHOUSE_URL: bridge.url,
    CLICKHOUSE_USER: 'default',
    CLICKHOUSE_PASSWORD: '',
    CLICKHOUSE_DATABASE: 'palisade',
    CLICKHOUSE_TIMEOUT_MS: '10000',
    PALISADE_CLICKHOUSE_CLUSTER: CLUSTER,
    ...(o.migrateOnStart === undefined ? {} : { PALISADE_MIGRATE_ON_START: String(o.migrateOnStart) }),
  };
  return {
    kind: 'server',
    label: 'cluster (bridge)',
    env: () => ({ ...env, CLICKHOUSE_URL: bridge.url }),
    open: async (): Promise<Warehouse> =>
      await ClickHouseServerWarehouse.open({ url: bridge.url, user: 'default', password: '', database: 'palisade', timeoutMs: 30_000, cluster: CLUSTER }),
    down: () => bridge.kill(),
    up: () => bridge.restart(),
    close: async () => {
      await bridge.stop();
      await removeDir(bridge.dir);
      await removeDir(logDir);
    },
    sent: async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { user: string; statement: string; settings: Record<string, string> }),
  };
}
