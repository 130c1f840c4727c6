/**
 * End to end over real HTTPS against a real server process on embedded chDB
 * (the scenarios live in helpers/ingest-suite.ts; test/server-path.int.test.ts
 * runs the same ones through @clickhouse/client against a server).
 */
import { embedded } from './helpers/clickhouse-backend.ts';
import { ingestSuite } from './helpers/ingest-suite.ts';

ingestSuite('embedded chDB', async () => embedded);
