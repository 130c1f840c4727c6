/**
 * Retention on the real engine: a change of retention and the periodic run
 * never enforce at the same time, so the trail says once who deleted what.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { newTenantId } from '../control/tenant-id.ts';
import { createLogger } from '../log/index.ts';
import type { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { BackupService, Ctx } from './backup.ts';
import type { AuditInput } from '../audit/audit-log.ts';
import { RetentionService } from './retention.ts';

const engine = fileEngine('palisade-retention-');
let wh: ChdbWarehouse;
before(async () => {
  wh = await engine.open();
});

const DAY = 86_400_000;
// Mid-month, so the expired row sits in a month that is not dropped whole: a row DELETE.
const NOW = Date.UTC(2026, 5, 20, 12);

test('a change of retention and the periodic run do not both enforce (and claim) the same expired rows', async () => {
  const tenantId = newTenantId();
  await wh.insertJson(
    'events',
    Buffer.from(
      ['old', 'new'].map((id, i) => JSON.stringify({ tenant_id: tenantId, message_id: id, type: 'track', event: 'E', timestamp: toClickHouseTime(new Date(NOW - (i === 0 ? 5 : 0) * DAY)), received_at: toClickHouseTime(new Date(NOW)) })).join('\n'),
    ),
  );

  const audit: AuditInput[] = [];
  let periodic: Promise<number> | undefined;
  let service: RetentionService | undefined;
  // The engine as the service sees it: the periodic run starts the moment the new setting is
  // stored, and the change's row DELETE is slow, so without mutual exclusion the periodic run
  // would count the expired row before the change deleted it.
  const racing = new Proxy(wh, {
    get(target, prop, receiver) {
      if (prop === 'insertJson') {
        return async (table: string, ...rest: unknown[]) => {
          const r = await (target.insertJson as (...a: unknown[]) => Promise<void>).call(target, table, ...rest);
          if (table === 'tenant_settings' && !periodic) periodic = service?.enforceAll();
          return r;
        };
      }
      if (prop === 'command') {
        return async (sql: string, ...rest: unknown[]) => {
          if (/^DELETE FROM \W?events\W? /.test(sql)) await new Promise((r) => setTimeout(r, 300));
          return (target.command as (...a: unknown[]) => Promise<void>).call(target, sql, ...rest);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Warehouse;
  service = new RetentionService({
    warehouse: racing,
    control: { getTenant: async () => ({ id: tenantId }) } as unknown as ControlPlane,
    backups: { create: async () => ({ id: 'bak_test' }) } as unknown as BackupService,
    audit: { record: (e) => void audit.push(e), recordDurable: async (e) => void audit.push(e) },
    logger: createLogger('silent'),
    now: () => NOW,
  });

  const change = await service.set(tenantId, 2, { actor: 'admin:test' } satisfies Ctx);
  assert.ok(periodic, 'the periodic run started during the change');
  await periodic;

  assert.equal(change.enforced.rowsDeleted, 1, 'the change deleted the expired row');
  const claims = audit.filter((e) => e.action === 'retention.enforce');
  assert.deepEqual(claims, [], 'the periodic run found nothing left to delete, and says nothing');
  const left = await wh.query<{ id: string }>('SELECT message_id AS id FROM events WHERE tenant_id = {t:String} ORDER BY id', { params: { t: tenantId } });
  assert.deepEqual(left.map((r) => r.id), ['new']);
});
