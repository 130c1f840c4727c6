/**
 * Client mistakes in a query are 400 invalid_query, never an outage: a
 * filter number beyond ±2^53 (the embedded engine's binding refuses to
 * serialise it, which answered 503 "database is busy" and logged "warehouse
 * unavailable"), a time zone Node knows and ClickHouse does not, and, as the
 * backstop for a ClickHouse server whose zone list differs, an engine
 * BAD_ARGUMENTS / BAD_QUERY_PARAMETER error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, ErrorCode } from '../errors/index.ts';
import { classifyCode, WarehouseError, type Warehouse } from '../storage/warehouse.ts';
import { QueryService } from './service.ts';

const LIMITS = {
  timeoutMs: 10_000, maxRowsToRead: 1_000_000, maxResultRows: 1_000, maxResultBytes: 1 << 20, maxMemoryBytes: 1 << 30,
  maxThreads: 2, maxConcurrent: 2, maxPerTenant: 8, maxQueued: 8, tenantSetting: '',
};
const PRINCIPAL = { tenantId: 'ten_aaaaaaaaaaaa', keyId: 'k', scope: 'query' as const };

function engine(fail?: WarehouseError): { wh: Warehouse; calls: number } {
  const state = { calls: 0 };
  const wh: Warehouse = {
    kind: 'embedded',
    database: 'palisade',
    query: async () => {
      state.calls++;
      if (fail) throw fail;
      return [];
    },
    command: async () => undefined,
    insertJson: async () => undefined,
    ping: async () => ({ ok: true }),
    close: async () => undefined,
  };
  return { wh, get calls() { return state.calls; } };
}

async function refusal(q: QueryService, body: unknown): Promise<AppError> {
  try {
    await q.run(PRINCIPAL, body);
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail('the query was accepted');
}

test('a query filter number beyond ±2^53 is invalid_query (400), not a 503, and never reaches the engine', async () => {
  const e = engine();
  const q = new QueryService({ warehouse: e.wh, limits: LIMITS });
  for (const value of [2 ** 53, -(2 ** 53), 1e300, -1e21, 9007199254740993]) {
    for (const op of ['eq', 'gt', 'lte', 'neq']) {
      const err = await refusal(q, { kind: 'top', by: { field: 'event' }, filters: [{ property: 'n', op, value }] });
      assert.equal(err.code, ErrorCode.INVALID_QUERY);
      assert.equal(err.status, 400);
    }
  }
  assert.equal(e.calls, 0);
  // The exact range itself is fine.
  await q.run(PRINCIPAL, { kind: 'top', by: { field: 'event' }, filters: [{ property: 'n', op: 'gt', value: Number.MAX_SAFE_INTEGER }] });
  assert.equal(e.calls, 1);
});

test('a trend time zone Node knows and the engine does not (US/Pacific-New, SystemV/AST4) is invalid_query', async () => {
  const e = engine();
  const q = new QueryService({ warehouse: e.wh, limits: LIMITS });
  for (const timezone of ['US/Pacific-New', 'SystemV/AST4', 'Mars/Olympus', 'UTC ']) {
    const err = await refusal(q, { kind: 'trend', timezone });
    assert.equal(err.code, ErrorCode.INVALID_QUERY);
    assert.match(err.message, /^timezone:/);
  }
  assert.equal(e.calls, 0);
  await q.run(PRINCIPAL, { kind: 'trend', timezone: 'Europe/Paris' });
  await q.run(PRINCIPAL, { kind: 'trend', timezone: 'Asia/Kolkata' });
  assert.equal(e.calls, 2);
});

test("an engine that refuses a bound argument (a server's older zone list) answers invalid_query, not 500 or 503", async () => {
  for (const code of [36, 457, 43, 53]) {
    const q = new QueryService({ warehouse: engine(new WarehouseError(`Code: ${code}`, classifyCode(code), code)).wh, limits: LIMITS });
    const err = await refusal(q, { kind: 'trend', timezone: 'Europe/Paris' });
    assert.equal(err.code, ErrorCode.INVALID_QUERY, `ClickHouse code ${code}`);
  }
  assert.equal(classifyCode(36), 'argument');
  assert.equal(classifyCode(457), 'argument');
  // An outage is still an outage.
  const down = new QueryService({ warehouse: engine(new WarehouseError('socket', classifyCode(210), 210)).wh, limits: LIMITS });
  await assert.rejects(down.run(PRINCIPAL, { kind: 'trend' }), (err: unknown) => err instanceof WarehouseError && err.kind === 'unavailable');
});
