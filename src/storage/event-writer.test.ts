import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { EventRow } from '../../schemas/event-row.ts';
import { loadConfig } from '../config/index.ts';
import { ingestBody } from '../ingest/pipeline.ts';
import type { ChdbWarehouse } from './chdb-warehouse.ts';
import { newTenantId } from '../control/tenant-id.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { chunkByMonth, chunkToken, compactLine, EVENT_COLUMNS, EventWriter, lineAsObjectJson, guardRows, GuardViolation, LOOKUP_MAX_IDS, LOOKUP_URL_BUDGET, lineBoundTo, linePrefix, lookupSlices, lookupUrlCost, MAX_PARTITIONS_PER_INSERT, packPartitions, toInsertRow } from './event-writer.ts';
import { WarehouseError } from './warehouse.ts';

const engine = fileEngine('palisade-writer-');
let wh: ChdbWarehouse;
before(async () => {
  wh = await engine.open();
});

const row = (over: Partial<EventRow> = {}): EventRow => ({
  tenant_id: 'ten_Axxxxxxxxxxx',
  message_id: 'm1',
  type: 'track',
  event: 'E',
  user_id: 'u',
  anonymous_id: '',
  group_id: '',
  previous_id: '',
  timestamp: '2026-11-24 10:00:00.000',
  original_timestamp: null,
  sent_at: null,
  received_at: '2026-11-24 10:00:00.000',
  properties: {},
  traits: {},
  context: {},
  ip: '',
  user_agent: '',
  key_id: 'k',
  ...over,
});

test('well-formed rows of the batch tenant pass', () => {
  guardRows('ten_Axxxxxxxxxxx', [row(), row({ message_id: 'm2', sent_at: '2026-11-24 09:00:00.000' })]);
});

test('the second check refuses a row of another tenant and malformed columns', () => {
  const cases: [string, EventRow][] = [
    ['tenant_id differs', row({ tenant_id: 'ten_Bxxxxxxxxxxx' })],
    ['message_id malformed', row({ message_id: '' })],
    ['message_id malformed', row({ message_id: 'x'.repeat(300) })],
    ['type is not an event type', row({ type: 'drop' as EventRow['type'] })],
    ['timestamp malformed', row({ timestamp: '2026-11-24T10:00:00Z' })],
    ['JSON columns must be objects', row({ properties: [] as unknown as EventRow['properties'] })],
    ['user_id must be a string', row({ user_id: 5 as unknown as string })],
  ];
  for (const [why, r] of cases) {
    assert.throws(() => guardRows('ten_Axxxxxxxxxxx', [row({ message_id: 'ok' }), r]), (err: unknown) => {
      assert.ok(err instanceof GuardViolation);
      assert.equal(err.rowIndex, 1);
      assert.match(err.message, new RegExp(why));
      return true;
    });
  }
  assert.throws(() => guardRows("ten_A' OR 1", [row()]), GuardViolation);
});

test('a batch tenant id of any form Palisade does not issue is refused (one pattern: schemas/tenant-id.ts)', () => {
  // Each of these passed the writer's old, looser pattern ([A-Za-z0-9_-]{1,64}).
  for (const id of ['tenant_a', 'ten_short', 'ten_Axxxxxxxxxxxx', 'TEN_Axxxxxxxxxxx', 'ten-Axxxxxxxxxxx', 'ten_Axxxxxxxxxx_']) {
    assert.throws(() => guardRows(id, [row({ tenant_id: id })]), (err: unknown) => err instanceof GuardViolation && err.rowIndex === -1, id);
  }
  guardRows(newTenantId(), []);
});

/** One row per month for `months` months back from 2026-11: a tenant backfilling its history. */
function backfill(tenant: string, months: number, prefix = 'b'): EventRow[] {
  return Array.from({ length: months }, (_, i) => {
    const d = new Date(Date.UTC(2026, 10 - i, 15, 12));
    const ts = d.toISOString().replace('T', ' ').replace('Z', '');
    return row({ tenant_id: tenant, message_id: `${prefix}${i}`, timestamp: ts, received_at: '2026-11-24 10:00:00.000' });
  });
}

async function stored(tenant: string): Promise<{ n: number; uniq: number }> {
  const [r] = await wh.query<{ n: string; u: string }>('SELECT count() n, uniqExact(message_id) u FROM events WHERE tenant_id = {t:String}', { params: { t: tenant } });
  return { n: Number(r?.n), uniq: Number(r?.u) };
}

test('a compact line is every column of a pipeline row, in EVENT_COLUMNS order; a dead letter reads it back as the row', () => {
  const body = { type: 'track', event: 'Signed Up', userId: 'u1', sentAt: '2026-01-02T03:04:05.000Z', properties: { plan: 'pro', text: 'a\nb"c' }, context: { locale: 'en' } };
  const [r] = ingestBody('track', body, { tenantId: 'ten_Axxxxxxxxxxx', keyId: 'k', requestId: 'r', receivedAt: new Date(), ip: '127.0.0.1', userAgent: 'curl', limits: loadConfig({}).limits }).rows;
  assert.ok(r);
  assert.deepEqual(Object.keys(r).filter((k) => !(EVENT_COLUMNS as readonly string[]).includes(k)), [], 'a pipeline column the compact line would drop');
  const line = compactLine(r);
  assert.equal(line.indexOf('\n'), line.length - 1);
  const back = Object.fromEntries(EVENT_COLUMNS.map((c, i) => [c, (JSON.parse(line) as unknown[])[i]]));
  assert.deepEqual(back, { is_bot: 0, ...r });
  assert.deepEqual(JSON.parse(lineAsObjectJson({ line: Buffer.from(line), compact: true })), back);
  const object = Buffer.from(JSON.stringify(r) + '\n');
  assert.equal(lineAsObjectJson({ line: object, compact: false }), JSON.stringify(r));
});

test('the insert-time check binds each spooled line to the batch tenant, as one row, compact or (from older spools) an object', () => {
  const prefix = linePrefix('ten_Axxxxxxxxxxx');
  const B = row({ tenant_id: 'ten_Bxxxxxxxxxxx' });
  const kinds = [
    { compact: true, of: (r: EventRow) => toInsertRow(r.tenant_id, r).line },
    { compact: false, of: (r: EventRow) => Buffer.from(JSON.stringify(r) + '\n') },
  ];
  for (const { compact, of } of kinds) {
    const as = (line: Buffer) => ({ line, compact });
    const line = of(row());
    assert.ok(lineBoundTo(prefix, as(line)), `compact: ${compact}`);
    assert.ok(!lineBoundTo(prefix, as(of(B))), 'another tenant');
    assert.ok(!lineBoundTo(linePrefix('ten_A2xxxxxxxxxx'), as(line)), 'a tenant id that is a prefix of another');
    const smuggled = Buffer.concat([line.subarray(0, line.length - 1), Buffer.from('\n'), of(B)]);
    assert.ok(!lineBoundTo(prefix, as(smuggled)), 'a second row behind a newline');
    assert.ok(!lineBoundTo(prefix, as(line.subarray(0, line.length - 1))), 'no newline');
    assert.ok(!lineBoundTo(prefix, { line, compact: !compact }), 'a line of the other kind');
  }
  assert.throws(() => toInsertRow('ten_Axxxxxxxxxxx', row({ tenant_id: 'ten_Bxxxxxxxxxxx' })), GuardViolation);
});

test('chunkByMonth keeps every row and puts at most the limit of months in a chunk', () => {
  const rows = backfill('ten_Axxxxxxxxxxx', 250);
  const chunks = chunkByMonth(rows);
  assert.deepEqual(chunks.map((c) => new Set(c.map((r) => r.timestamp.slice(0, 7))).size), [100, 100, 50]);
  assert.equal(chunks.flat().length, 250);
  assert.deepEqual(chunkByMonth([row(), row({ message_id: 'm2' })]).map((c) => c.length), [2]);
});

test('a 150-month backfill lands: one INSERT never spans more partitions than ClickHouse allows', async () => {
  const rows = backfill('ten_backfillxxxx', 150);
  // The engine itself refuses the whole block in one INSERT (TOO_MANY_PARTS, which the
  // flusher must treat as "retry later" because it also means merges are behind).
  await assert.rejects(
    wh.insertJson('events', Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'))),
    (err: unknown) => err instanceof WarehouseError && err.clickhouseCode === 252,
  );
  const r = await new EventWriter(wh).write('ten_backfillxxxx', rows, 'tok1');
  assert.deepEqual(r, { inserted: 150, duplicates: 0, inserts: Math.ceil(150 / MAX_PARTITIONS_PER_INSERT) });
  assert.deepEqual(await stored('ten_backfillxxxx'), { n: 150, uniq: 150 });
  // The same batch again (a spool replay): nothing new.
  assert.deepEqual(await new EventWriter(wh).write('ten_backfillxxxx', rows, 'tok1'), { inserted: 0, duplicates: 150, inserts: 0 });
  assert.deepEqual(await stored('ten_backfillxxxx'), { n: 150, uniq: 150 });
});

test('a replay that finds part of its batch stored writes the rest, under a token of its own', async () => {
  const all = backfill('ten_partialxxxxx', 3, 'p');
  const writer = new EventWriter(wh);
  // A crash after some of the batch's parts were committed: same spool token, fewer rows.
  await writer.write('ten_partialxxxxx', all.slice(0, 1), 'same-token');
  const r = await writer.write('ten_partialxxxxx', all, 'same-token');
  assert.deepEqual(r, { inserted: 2, duplicates: 1, inserts: 1 });
  assert.deepEqual(await stored('ten_partialxxxxx'), { n: 3, uniq: 3 });
});

test('more message ids than one lookup carries are all checked', async () => {
  const rows = Array.from({ length: LOOKUP_MAX_IDS + 10 }, (_, i) => row({ tenant_id: 'ten_manyxxxxxxxx', message_id: `id-${i}` }));
  const writer = new EventWriter(wh);
  // Stored: the first five and the last five, so both lookups of the second write find some.
  const first = [...rows.slice(0, 5), ...rows.slice(-5)];
  assert.equal((await writer.write('ten_manyxxxxxxxx', first, 'm1')).inserted, 10);
  const r = await writer.write('ten_manyxxxxxxxx', rows, 'm2');
  assert.deepEqual(r, { inserted: LOOKUP_MAX_IDS, duplicates: 10, inserts: 1 });
  assert.deepEqual(await stored('ten_manyxxxxxxxx'), { n: rows.length, uniq: rows.length });
});

test('a lookup carries at most LOOKUP_MAX_IDS ids and LOOKUP_URL_BUDGET of the URL, and every id once', () => {
  const ids = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => ({ messageId: make(i) }));
  const uuids = ids(25_000, (i) => `0f8fad5b-d9cb-469f-a165-${String(i).padStart(12, '0')}`);
  assert.deepEqual(lookupSlices(uuids).map((s) => s.length), [LOOKUP_MAX_IDS, LOOKUP_MAX_IDS, 5_000]);
  // 256 characters (the guard's cap) of quotes and non-ASCII: each takes up to 6 URL characters a byte.
  const nasty = ids(3_000, (i) => `${i}'\\é`.padEnd(256, "'"));
  const slices = lookupSlices(nasty);
  assert.ok(slices.length > 1);
  for (const s of slices) assert.ok(s.reduce((n, r) => n + lookupUrlCost(r.messageId), 0) <= LOOKUP_URL_BUDGET);
  assert.deepEqual(slices.flat(), nasty);
  assert.equal(lookupUrlCost('abc-1.2_3'), 9 + 9);
  assert.equal(lookupUrlCost("a'b"), 9 + 3 * 6);
  // One id over the budget still gets a lookup of its own.
  assert.deepEqual(lookupSlices([{ messageId: 'x'.repeat(10) }], 10, 5).map((s) => s.length), [1]);
});

test('many tenants share INSERTs of at most 100 partitions; a replay inserts nothing', async () => {
  const batches = Array.from({ length: 250 }, (_, i) => ({
    tenantId: `ten_mt${String(i).padStart(10, '0')}`,
    rows: [row({ tenant_id: `ten_mt${String(i).padStart(10, '0')}`, message_id: `x${i}a` }), row({ tenant_id: `ten_mt${String(i).padStart(10, '0')}`, message_id: `x${i}b` })],
    token: `tok${i}`,
  }));
  assert.deepEqual(packPartitions(batches).map((c) => c.tenants.length), [100, 100, 50]);
  const writer = new EventWriter(wh);
  const r = await writer.writeMany(batches);
  assert.deepEqual(r, { inserted: 500, duplicates: 0, inserts: 3, refused: [] });
  const [n] = await wh.query<{ n: number; t: number }>("SELECT count() n, uniqExact(tenant_id) t FROM events WHERE startsWith(tenant_id, 'ten_mt')");
  assert.deepEqual([Number(n?.n), Number(n?.t)], [500, 250]);
  assert.deepEqual(await writer.writeMany(batches), { inserted: 0, duplicates: 500, inserts: 0, refused: [] });
});

test('writeMany guards every row against its own batch tenant before writing anything', async () => {
  const writer = new EventWriter(wh);
  await assert.rejects(
    writer.writeMany([
      { tenantId: 'ten_g1xxxxxxxxxx', rows: [row({ tenant_id: 'ten_g1xxxxxxxxxx', message_id: 'g1' })], token: 'a' },
      { tenantId: 'ten_g2xxxxxxxxxx', rows: [row({ tenant_id: 'ten_g1xxxxxxxxxx', message_id: 'g2' })], token: 'b' },
    ]),
    GuardViolation,
  );
  assert.deepEqual(await stored('ten_g1xxxxxxxxxx'), { n: 0, uniq: 0 });
});

test('a chunk ClickHouse refuses as bad data comes back for a tenant-by-tenant write; other chunks land', async () => {
  const batches = Array.from({ length: 150 }, (_, i) => ({
    tenantId: `ten_ref${String(i).padStart(9, '0')}`,
    rows: [row({ tenant_id: `ten_ref${String(i).padStart(9, '0')}`, message_id: `r${i}`, properties: i === 120 ? { 'a.b': 1, a: { b: 2 } } : { ok: i } })],
    token: `t${i}`,
  }));
  const r = await new EventWriter(wh).writeMany(batches);
  // Tenants 0-99 share the first INSERT; 100-149 the second, which holds the bad row.
  assert.equal(r.inserted, 100);
  assert.deepEqual(r.refused.map((b) => b.tenantId), batches.slice(100).map((b) => b.tenantId));
});

test("an insert's token is the one earlier versions computed: a replay after an upgrade is still dropped by the engine", () => {
  const rows = [
    { tenantId: 'ten_aaaaaaaaaaaa', messageId: 'm-1' },
    { tenantId: 'ten_bbbbbbbbbbbb', messageId: 'é-2' },
  ];
  // The value the previous code (a hash update per part) gave for these batches and rows.
  assert.equal(chunkToken(['sp1', 'sp2'], rows), 'b0acd7e705020b1f138ee3ca1eb945acb5cc0e67');
  assert.notEqual(chunkToken(['sp1'], rows), chunkToken(['sp1', 'sp2'], rows));
  assert.notEqual(chunkToken(['sp1', 'sp2'], rows.slice(1)), chunkToken(['sp1', 'sp2'], rows));
  // The tenant is part of it: the same ids for another tenant are other rows.
  assert.notEqual(chunkToken(['sp1', 'sp2'], rows.map((r) => ({ ...r, tenantId: 'ten_cccccccccccc' }))), chunkToken(['sp1', 'sp2'], rows));
});
