/**
 * Physical rows and distinct message ids per tenant in `events` (no FINAL: a
 * copy the engine has not merged away still counts), the benchmarks' "lost"
 * and "counted twice". Shared by bench/count-rows.ts (embedded data
 * directory, in a child) and bench/scale-out.ts (the server path).
 */
import type { Warehouse } from '../src/storage/warehouse.ts';

export type EventCounts = Record<string, { rows: number; unique: number }>;

export async function eventCounts(wh: Warehouse, tenants: string[]): Promise<EventCounts> {
  const rows = await wh.query<{ tenant_id: string; n: string; u: string }>(
    'SELECT tenant_id, count() AS n, uniqExact(message_id) AS u FROM events WHERE tenant_id IN {t:Array(String)} GROUP BY tenant_id',
    { params: { t: tenants }, timeoutMs: 120_000 },
  );
  const out: EventCounts = {};
  for (const r of rows) out[r.tenant_id] = { rows: Number(r.n), unique: Number(r.u) };
  return out;
}
