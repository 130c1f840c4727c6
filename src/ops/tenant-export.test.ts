import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlPlane } from '../control/control-plane.ts';
import type { CallOptions, Warehouse } from '../storage/warehouse.ts';
import { exportTenant, primedExport } from './tenant-export.ts';

const TENANT = 'ten_aaaaaaaaaaaa';

/** A warehouse holding `n` events one millisecond apart, paged the way the export asks; `fail` makes every call throw. */
function fakeWarehouse(n: number, o: { onPage?: () => void; fail?: Error } = {}): Warehouse {
  const events = Array.from({ length: n }, (_, i) => ({
    timestamp: `2026-11-20 00:00:${String(Math.floor(i / 1000)).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}`,
    message_id: `m${String(i).padStart(6, '0')}`,
  }));
  return {
    kind: 'embedded',
    database: 'x',
    async query<T>(sql: string, options: CallOptions = {}): Promise<T[]> {
      if (o.fail) throw o.fail;
      const p = options.params ?? {};
      if (sql.includes('FROM events')) {
        o.onPage?.();
        const after = [String(p.ts), String(p.id)];
        const rest = events.filter((e) => e.timestamp > after[0]! || (e.timestamp === after[0] && e.message_id > after[1]!));
        return rest.slice(0, Number(p.lim)) as T[];
      }
      return [] as T[];
    },
    command: async () => {},
    insertJson: async () => {},
    ping: async () => ({ ok: true }),
    close: async () => {},
  };
}

const control = { getTenant: async () => ({ id: TENANT }), listKeys: async () => [] } as unknown as ControlPlane;

async function collect(lines: AsyncGenerator<string>): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for await (const l of lines) out.push(JSON.parse(l) as Record<string, unknown>);
  return out;
}

test('an export stops at its event bound with a cursor, and the next part continues where it stopped', async () => {
  const wh = fakeWarehouse(12_000);
  const first = await collect(exportTenant(wh, control, TENANT, { maxMs: 60_000, maxEvents: 5_000 }));
  const end1 = first.at(-1) as { record: string; events: number; complete: boolean; next: string };
  assert.deepEqual([end1.record, end1.events, end1.complete], ['end', 5_000, false]);
  const second = await collect(exportTenant(wh, control, TENANT, { maxMs: 60_000, maxEvents: 5_000, after: end1.next }));
  const third = await collect(exportTenant(wh, control, TENANT, { maxMs: 60_000, maxEvents: 5_000, after: (second.at(-1) as { next: string }).next }));
  assert.deepEqual(third.at(-1), { record: 'end', events: 2_000, deadLetters: 0, complete: true });
  const ids = [...first, ...second, ...third].filter((l) => l.record === 'event').map((l) => (l.data as { message_id: string }).message_id);
  assert.equal(new Set(ids).size, 12_000);
});

test('an export stops at its time bound (injected clock) and at its byte bound', async () => {
  let clock = 0;
  const timed = await collect(exportTenant(fakeWarehouse(20_000, { onPage: () => (clock += 700) }), control, TENANT, { maxMs: 1_000, now: () => clock }));
  assert.deepEqual([timed.at(-1)?.events, timed.at(-1)?.complete], [10_000, false]);
  const sized = await collect(exportTenant(fakeWarehouse(20_000), control, TENANT, { maxMs: 60_000, maxBytes: 100_000 }));
  assert.deepEqual([sized.at(-1)?.events, sized.at(-1)?.complete], [5_000, false]);
});

test("a cursor issued to another tenant is refused, and a refused start releases the tenant's read", async () => {
  const wh = fakeWarehouse(6_000);
  const first = await collect(exportTenant(wh, control, TENANT, { maxMs: 60_000, maxEvents: 5_000 }));
  const next = (first.at(-1) as { next: string }).next;
  let released = 0;
  await assert.rejects(
    primedExport(exportTenant(wh, control, 'ten_bbbbbbbbbbbb', { maxMs: 60_000, after: next }), () => released++),
    (err: unknown) => (err as { code?: string }).code === 'invalid_cursor',
  );
  assert.equal(released, 1);
});

test('a primed export releases once, whether read to the end or cancelled before its first read', async () => {
  let released = 0;
  const done = await primedExport(exportTenant(fakeWarehouse(10), control, TENANT, { maxMs: 60_000 }), () => released++);
  assert.equal((await collect(done)).at(-1)?.complete, true);
  assert.equal(released, 1);
  const cancelled = await primedExport(exportTenant(fakeWarehouse(10), control, TENANT, { maxMs: 60_000 }), () => released++);
  await cancelled.return(undefined);
  assert.equal(released, 2);
  await assert.rejects(primedExport(exportTenant(fakeWarehouse(10, { fail: new Error('engine down') }), control, TENANT, { maxMs: 60_000 }), () => released++), /engine down/);
  assert.equal(released, 3);
});
