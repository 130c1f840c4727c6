/**
 * A Warehouse that reports the duration and outcome of every call it passes
 * on (palisade_clickhouse_request_duration_seconds), for either adapter.
 * The outcome is `ok` or the WarehouseError kind (decided by ClickHouse's
 * numeric code, never by message text); anything else is `other`.
 */
import { WarehouseError, type CallOptions, type InsertOptions, type Warehouse } from './warehouse.ts';

export type WarehouseOp = 'query' | 'command' | 'insert';
export type WarehouseObserver = (op: WarehouseOp, outcome: string, seconds: number) => void;

async function timed<T>(op: WarehouseOp, observe: WarehouseObserver, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const out = await fn();
    observe(op, 'ok', (performance.now() - started) / 1000);
    return out;
  } catch (err) {
    observe(op, err instanceof WarehouseError ? err.kind : 'other', (performance.now() - started) / 1000);
    throw err;
  }
}

export function observedWarehouse(inner: Warehouse, observe: WarehouseObserver): Warehouse {
  return {
    kind: inner.kind,
    database: inner.database,
    cluster: inner.cluster,
    query: <T>(sql: string, options?: CallOptions) => timed('query', observe, () => inner.query<T>(sql, options)),
    command: (sql: string, options?: CallOptions) => timed('command', observe, () => inner.command(sql, options)),
    insertJson: (table: string, payload: Buffer, options?: InsertOptions) => timed('insert', observe, () => inner.insertJson(table, payload, options)),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}
