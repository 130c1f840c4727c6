/**
 * The ingestion suite of test/ingest.int.test.ts on the server path:
 * CLICKHOUSE_URL set, so Palisade talks to ClickHouse through
 * @clickhouse/client over HTTP. The server is the real one at CLICKHOUSE_URL
 * when the environment has it, else the test bridge (chDB behind ClickHouse's
 * HTTP interface, in its own process).
 */
import { serverBackend } from './helpers/clickhouse-backend.ts';
import { ingestSuite } from './helpers/ingest-suite.ts';

ingestSuite(process.env.CLICKHOUSE_URL ? 'a ClickHouse server (CLICKHOUSE_URL)' : 'a ClickHouse server (test bridge)', serverBackend);
