/**
 * Child process of bench/run.ts: opens a stopped server's data directory and
 * prints, per tenant, the physical rows and the distinct message ids in
 * `events` (no FINAL: a copy the engine has not merged away still counts).
 * A child because chDB binds one data directory per process, and the bench's
 * later parts open their own.
 */
import { openDataDir } from '../test/helpers/data-dir.ts';

const [dataDir, ...tenants] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: count-rows.ts <dataDir> <tenantId>...');
const wh = await openDataDir(dataDir);
try {
  const rows = await wh.query<{ tenant_id: string; n: string; u: string }>(
    'SELECT tenant_id, count() AS n, uniqExact(message_id) AS u FROM events WHERE tenant_id IN {t:Array(String)} GROUP BY tenant_id',
    { params: { t: tenants }, timeoutMs: 120_000 },
  );
  const out: Record<string, { rows: number; unique: number }> = {};
  for (const r of rows) out[r.tenant_id] = { rows: Number(r.n), unique: Number(r.u) };
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await wh.close();
}
