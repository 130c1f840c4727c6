/**
 * The ingestion suite of test/ingest.int.test.ts on the cluster variant:
 * PALISADE_CLICKHOUSE_CLUSTER set, the migrations rendered ON
 * CLUSTER, events written through the Distributed table (foreground inserts)
 * and tenant stats read from the cluster's system.parts. The cluster is the
 * test bridge's one-shard emulation (helpers/cluster-backend.ts): no
 * ClickHouse server or Keeper can run here. One edge, so it migrates at start.
 */
import { clusterBackend } from './helpers/cluster-backend.ts';
import { ingestSuite } from './helpers/ingest-suite.ts';

ingestSuite('a ClickHouse cluster (PALISADE_CLICKHOUSE_CLUSTER, emulated on the test bridge)', () => clusterBackend({ migrateOnStart: true }));
