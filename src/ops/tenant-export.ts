/**
 * A tenant's data as JSON lines, for the customer before they leave: one
 * `tenant` line (with its keys' metadata, never their hashes, and its
 * settings), then every event (each messageId once), then its dead letters,
 * then an `end` line with the counts so a truncated download is detectable.
 * Read a page at a time (keyset on timestamp, message id), so memory stays
 * flat whatever the tenant's size.
 */
import type { ControlPlane } from '../control/control-plane.ts';
import type { Warehouse } from '../storage/warehouse.ts';

// ~5k events of ~1 KB: a few MB per page.
const PAGE = 5_000;

export async function* exportTenant(wh: Warehouse, control: ControlPlane, tenantId: string): AsyncGenerator<string> {
  const tenant = await control.getTenant(tenantId);
  const keys = await control.listKeys(tenantId);
  const settings = await wh.query<{ retention_days: number }>('SELECT retention_days FROM tenant_settings FINAL WHERE tenant_id = {t:String}', {
    params: { t: tenantId },
  });
  yield JSON.stringify({ record: 'tenant', exportedAt: new Date().toISOString(), tenant, keys, retentionDays: Number(settings[0]?.retention_days ?? 0) }) + '\n';

  let events = 0;
  let after = { ts: '1900-01-01 00:00:00.000', id: '' };
  for (;;) {
    const rows = await wh.query<Record<string, unknown> & { timestamp: string; message_id: string }>(
      `SELECT * FROM events FINAL WHERE tenant_id = {t:String} AND (timestamp, message_id) > ({ts:DateTime64(3)}, {id:String})
       ORDER BY timestamp, message_id LIMIT {lim:UInt32}`,
      { params: { t: tenantId, ts: after.ts, id: after.id, lim: PAGE }, timeoutMs: 120_000 },
    );
    for (const r of rows) yield JSON.stringify({ record: 'event', data: r }) + '\n';
    events += rows.length;
    const last = rows[rows.length - 1];
    if (!last || rows.length < PAGE) break;
    after = { ts: last.timestamp, id: last.message_id };
  }

  const dead = await wh.query<Record<string, unknown>>('SELECT at, message_id, reason, row FROM dead_letters WHERE tenant_id = {t:String} ORDER BY at', {
    params: { t: tenantId },
    timeoutMs: 120_000,
  });
  for (const d of dead) yield JSON.stringify({ record: 'dead_letter', data: d }) + '\n';
  yield JSON.stringify({ record: 'end', events, deadLetters: dead.length }) + '\n';
}

/** `exportTenant` bound to this node's warehouse and control plane, for the export routes. */
export class TenantExports {
  constructor(
    private readonly warehouse: Warehouse,
    private readonly control: ControlPlane,
  ) {}

  stream(tenantId: string): AsyncGenerator<string> {
    return exportTenant(this.warehouse, this.control, tenantId);
  }
}
