/**
 * A ClickHouse server's quota (ops/clickhouse/query-user.sql) cannot run here
 * (chDB has no quotas), so a warehouse that answers as a server with a spent
 * quota does: the caller gets a 429-class too_many_queries with Retry-After,
 * not an internal error, and the flusher's warehouse errors class it as
 * retryable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, ErrorCode } from '../errors/index.ts';
import { classifyCode, WarehouseError, type Warehouse } from '../storage/warehouse.ts';
import { QueryService } from './service.ts';

const QUOTA_EXCEEDED = 201;

test('a spent ClickHouse quota is too_many_queries with Retry-After, and retryable for the flusher', async () => {
  const seen: Record<string, unknown>[] = [];
  const server: Warehouse = {
    kind: 'server',
    database: 'palisade',
    query: async (_sql, o) => {
      seen.push({ ...o?.settings });
      throw new WarehouseError('query: Code: 201. DB::Exception: Quota for user `palisade_query` for 60s has been exceeded', classifyCode(QUOTA_EXCEEDED), QUOTA_EXCEEDED);
    },
    command: async () => undefined,
    insertJson: async () => undefined,
    ping: async () => ({ ok: true }),
    close: async () => undefined,
  };
  const limits = {
    timeoutMs: 10_000, maxRowsToRead: 1_000_000, maxResultRows: 1_000, maxResultBytes: 1 << 20, maxMemoryBytes: 1 << 30,
    maxThreads: 2, maxConcurrent: 2, maxPerTenant: 8, maxQueued: 8, tenantSetting: 'SQL_palisade_tenant',
  };
  const q = new QueryService({ warehouse: server, limits });
  await assert.rejects(q.run({ tenantId: 'ten_a', keyId: 'k', scope: 'query' }, { kind: 'trend', from: '-7d' }), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, ErrorCode.TOO_MANY_QUERIES);
    assert.ok((err.retryAfter ?? 0) > 0);
    return true;
  });
  // It did reach the server, with the tenant setting for the row policy.
  assert.equal(seen[0]?.SQL_palisade_tenant, 'ten_a');
  assert.equal(classifyCode(QUOTA_EXCEEDED), 'unavailable');
});
