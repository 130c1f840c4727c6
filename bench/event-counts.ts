/**
 * Physical rows and distinct message ids per tenant in `events` (no FINAL: a
 * copy the engine has not merged away still counts), the benchmarks' "lost"
 * and "counted twice". Shared by bench/count-rows.ts (embedded data
 * directory, in a child) and bench/scale-out.ts (the server path); and the
 * wait until acknowledged events are queryable, shared by both ingest tables.
 */
import type { Warehouse } from '../src/storage/warehouse.ts';
import { stats, type Palisade } from '../test/helpers/palisade.ts';

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

/** Polls until the tenant has `acked` distinct events queryable (20 ms steps), or 120 s. */
export async function caughtUp(p: Palisade, tenantId: string, acked: number): Promise<{ landed: number; seconds: number }> {
  const started = performance.now();
  for (;;) {
    const landed = (await stats(p, tenantId)).events;
    const seconds = (performance.now() - started) / 1000;
    if (landed >= acked || seconds > 120) return { landed, seconds };
    await new Promise((r) => setTimeout(r, 20));
  }
}
