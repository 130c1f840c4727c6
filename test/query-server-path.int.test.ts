/**
 * The query service gives the same answers through the ClickHouse server
 * adapter (@clickhouse/client over HTTP: parameters as param_*, settings as
 * URL parameters) as through embedded chDB, limit errors included. The server
 * is the real one at CLICKHOUSE_URL when set, else the test-only bridge.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AppError } from '../src/errors/index.ts';
import type { QueryInput } from '../src/query/schema.ts';
import { QueryService, type QueryLimits } from '../src/query/service.ts';
import { migrate } from '../src/storage/migrations.ts';
import type { Warehouse } from '../src/storage/warehouse.ts';
import { serverBackend, type Backend } from './helpers/clickhouse-backend.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { CANARY, loadFixtures, NOW, TENANT_A } from './helpers/query-fixtures.ts';
import { removeDir, tempDir } from './helpers/palisade.ts';

const LIMITS: QueryLimits = {
  timeoutMs: 10_000, maxRowsToRead: 10_000_000, maxResultRows: 100_000, maxResultBytes: 64 << 20, maxMemoryBytes: 1 << 30,
  maxThreads: 2, maxConcurrent: 2, maxPerTenant: 8, maxQueued: 64, tenantSetting: '',
};
const A = { tenantId: TENANT_A, keyId: 'k', scope: 'query' as const };

let backend: Backend;
let server: Warehouse;
let embedded: Warehouse;
let dir: string;

before(async () => {
  backend = await serverBackend();
  server = await backend.open('');
  dir = await tempDir('palisade-query-embedded-');
  // openDataDir reads the disk key from secrets.json, as for a server's data directory.
  await mkdir(path.join(dir, 'clickhouse'), { recursive: true });
  await writeFile(path.join(dir, 'secrets.json'), JSON.stringify({ diskKeyHex: 'ef'.repeat(32) }));
  embedded = await openDataDir(dir);
  for (const wh of [server, embedded]) {
    await migrate(wh);
    await loadFixtures(wh);
  }
});

after(async () => {
  await server?.close();
  await embedded?.close();
  await backend?.close();
  if (dir) await removeDir(dir);
});

const QUERIES: QueryInput[] = [
  { kind: 'trend', from: '-7d' },
  { kind: 'trend', from: '-3d', measure: 'users', interval: 'hour', timezone: 'Asia/Kolkata' },
  { kind: 'trend', from: '-7d', breakdown: { field: 'event' }, limit: 2 },
  { kind: 'trend', from: '-7d', breakdown: { property: 'plan' }, filters: [{ property: 'price', op: 'gte', value: 0 }] },
  { kind: 'trend', from: '-7d', filters: [{ property: 'plan', op: 'in', value: ['pro', 'free'] }, { field: 'utm_source', op: 'is_not_set' }] },
  { kind: 'top', from: '-7d', by: { field: 'page_path' }, filters: [{ field: 'type', op: 'eq', value: 'page' }] },
  { kind: 'top', from: '-7d', by: { field: 'referring_domain' }, measure: 'users' },
  { kind: 'funnel', from: '-7d', steps: [{ event: 'Home' }, { event: 'Signed Up' }, { event: 'Purchased' }], order: 'strict' },
  { kind: 'events', limit: 3 },
  { kind: 'events', events: ['Purchased'], filters: [{ property: 'price', op: 'eq', value: 0 }] },
  { kind: 'warnings' },
  { kind: 'schema', from: '-7d' },
  { kind: 'top', from: '-7d', by: { property: "') OR 1=1 --" } },
];

async function answer(wh: Warehouse, q: QueryInput, limits: Partial<QueryLimits> = {}): Promise<unknown> {
  try {
    return (await new QueryService({ warehouse: wh, limits: { ...LIMITS, ...limits }, now: () => NOW }).run(A, q)).result;
  } catch (err) {
    if (err instanceof AppError) return { error: err.code };
    throw err;
  }
}

test('every query kind answers the same through the server adapter as on embedded chDB', async () => {
  for (const q of QUERIES) {
    const [e, s] = [await answer(embedded, q), await answer(server, q)];
    assert.ok(!JSON.stringify(e).includes('"error"'), `${JSON.stringify(q)}: ${JSON.stringify(e)}`);
    assert.deepEqual(s, e, JSON.stringify(q));
    assert.ok(!JSON.stringify(s).includes(CANARY));
  }
});

test('limit errors carry the same codes through the server adapter', async () => {
  assert.deepEqual(await answer(server, { kind: 'trend', from: '-7d' }, { maxRowsToRead: 3 }), { error: 'query_too_expensive' });
  assert.deepEqual(await answer(server, { kind: 'events', limit: 5 }, { maxResultRows: 2 }), { error: 'result_too_large' });
  assert.deepEqual(await answer(server, { kind: 'trend', tenant_id: 'x' } as QueryInput), { error: 'invalid_query' });
});
