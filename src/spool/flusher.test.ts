import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toClickHouseTime, type EventRow, type JsonObject } from '../../schemas/event-row.ts';
import { createLogger } from '../log/index.ts';
import type { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { EventWriter } from '../storage/event-writer.ts';
import { WarehouseError, type Warehouse } from '../storage/warehouse.ts';
import { FORMAT_ONE_TENANT, formatOneUnflushedIds, writeFormatOneSpool } from '../../test/helpers/spool-format-one.ts';
import { Flusher, groupToken, type FlusherOptions } from './flusher.ts';
import { encodeSpoolPayload, PAYLOAD_V2 } from './payload.ts';
import { Spool, type Cursor } from './spool.ts';

// chDB binds one data directory per process: one engine shared by every test here, distinct tenants per test.
const engine = fileEngine('palisade-flusher-');
let wh: ChdbWarehouse;
before(async () => {
  wh = await engine.open();
});

const MARKER = 'customer-secret-value-7f3a';
const logLines: string[] = [];
const logger = createLogger('debug', { write: (line: string) => void logLines.push(line) });
const key = randomBytes(32);
let dirs = 0;
const spoolOptions = () => ({ dir: path.join(engine.dir, `spool-${dirs++}`), keys: new Map([['k1', key]]), currentKeyId: 'k1' });

function row(tenant: string, id: string, properties: JsonObject = { plan: 'pro', note: MARKER }): EventRow {
  const now = toClickHouseTime(new Date());
  return {
    tenant_id: tenant, message_id: id, type: 'track', event: 'Signed Up', user_id: 'u1', anonymous_id: '', group_id: '',
    previous_id: '', timestamp: now, original_timestamp: null, sent_at: null, received_at: now,
    properties, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'key1',
  };
}

function flusher(spool: FlusherOptions['spool'], warehouse: Warehouse = wh, extra: Partial<FlusherOptions> = {}): Flusher {
  return new Flusher({ spool, writer: new EventWriter(warehouse), warehouse, logger, intervalMs: 50, maxRows: 1000, ...extra });
}

async function counts(tenant: string): Promise<{ n: number; uniq: number }> {
  const [r] = await wh.query<{ n: string; u: string }>(
    'SELECT count() AS n, uniqExact(message_id) AS u FROM events WHERE tenant_id = {t:String}', { params: { t: tenant } });
  return { n: Number(r?.n), uniq: Number(r?.u) };
}

async function deadLetters(tenant: string) {
  return await wh.query<{ message_id: string; reason: string; row: string }>(
    'SELECT message_id, reason, row FROM dead_letters WHERE tenant_id = {t:String} ORDER BY message_id', { params: { t: tenant } });
}

/** The real engine, with insertJson replaced: the test double for an outage. */
function withInsert(insert: Warehouse['insertJson']): Warehouse {
  return {
    kind: wh.kind, database: wh.database, insertJson: insert,
    query: (sql, o) => wh.query(sql, o), command: (sql, o) => wh.command(sql, o), ping: () => wh.ping(), close: async () => undefined,
  };
}

/** A spool whose next commit throws: the process "crashes" after inserting, before the checkpoint. */
function crashingBeforeCommit(spool: Spool): FlusherOptions['spool'] {
  return {
    read: (c, l) => spool.read(c, l),
    checkpoint: () => spool.checkpoint(),
    stats: () => spool.stats(),
    commit: async (_: Cursor) => {
      throw new Error('simulated crash before checkpoint');
    },
  };
}

/** The previous release's spool payload encoder, kept verbatim: a spool it wrote must still flush. */
function encodeV1Payload(tenantId: string, rows: readonly EventRow[]): Buffer {
  return Buffer.from(JSON.stringify({ tenantId, rows }));
}

describe('flusher (real chDB)', () => {
  test('rows for two tenants land under the right tenant and the spool is committed', async () => {
    const { spool } = await Spool.open(spoolOptions());
    await spool.append(encodeSpoolPayload('ten_faxxxxxxxxxx', [row('ten_faxxxxxxxxxx', 'a1'), row('ten_faxxxxxxxxxx', 'a2')]));
    await spool.append(encodeSpoolPayload('ten_fbxxxxxxxxxx', [row('ten_fbxxxxxxxxxx', 'b1')]));
    await spool.append(encodeSpoolPayload('ten_faxxxxxxxxxx', [row('ten_faxxxxxxxxxx', 'a3')]));
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 2 });
    assert.deepEqual(await counts('ten_faxxxxxxxxxx'), { n: 3, uniq: 3 });
    assert.deepEqual(await counts('ten_fbxxxxxxxxxx'), { n: 1, uniq: 1 });
    assert.equal(spool.stats().records, 0);
    assert.deepEqual(await f.flushOnce(), { rows: 0, tenants: 0 });
    assert.equal(f.status().healthy, true);
    assert.ok(f.status().lastSuccessAt !== null);
    await spool.close();
  });

  test('maxRows bounds a cycle; the rest follows in the next one', async () => {
    const { spool } = await Spool.open(spoolOptions());
    for (let i = 0; i < 3; i++) await spool.append(encodeSpoolPayload('ten_fmxxxxxxxxxx', [0, 1, 2, 3].map((j) => row('ten_fmxxxxxxxxxx', `m${i}-${j}`))));
    const f = flusher(spool, wh, { maxRows: 5 });
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 1 });
    assert.equal(spool.stats().records, 2);
    await f.flushOnce();
    await f.flushOnce();
    assert.deepEqual(await counts('ten_fmxxxxxxxxxx'), { n: 12, uniq: 12 });
    await spool.close();
  });

  test('a replay after a crash before the checkpoint, and a retried request, do not double count', async () => {
    const opts = spoolOptions();
    const first = await Spool.open(opts);
    for (let i = 0; i < 4; i++) await first.spool.append(encodeSpoolPayload('ten_frxxxxxxxxxx', [row('ten_frxxxxxxxxxx', `r${i}a`), row('ten_frxxxxxxxxxx', `r${i}b`)]));
    await assert.rejects(flusher(crashingBeforeCommit(first.spool)).flushOnce(), /simulated crash/);
    assert.deepEqual(await counts('ten_frxxxxxxxxxx'), { n: 8, uniq: 8 });
    assert.deepEqual(first.spool.checkpoint(), { seq: 0, offset: 0 });
    await first.spool.close();

    const { spool } = await Spool.open(opts);
    assert.equal(spool.stats().records, 4);
    await spool.append(encodeSpoolPayload('ten_frxxxxxxxxxx', [row('ten_frxxxxxxxxxx', 'r0a'), row('ten_frxxxxxxxxxx', 'r9')])); // a client retry
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 10, tenants: 1 });
    await f.flushOnce();
    assert.deepEqual(await counts('ten_frxxxxxxxxxx'), { n: 9, uniq: 9 });
    assert.equal(spool.stats().records, 0);
    await spool.close();
  });

  test('server-generated ids: a crash before the checkpoint replays without a duplicate, then steady state skips the lookup', async () => {
    const opts = spoolOptions();
    const first = await Spool.open(opts);
    const ids = (i: number) => new Set([`gen${i}a`, `gen${i}b`]);
    for (let i = 0; i < 3; i++) await first.spool.append(encodeSpoolPayload('ten_fgenxxxxxxxx', [row('ten_fgenxxxxxxxx', `gen${i}a`), row('ten_fgenxxxxxxxx', `gen${i}b`)], ids(i)));
    await assert.rejects(flusher(crashingBeforeCommit(first.spool)).flushOnce(), /simulated crash/);
    await first.spool.close();

    const { spool } = await Spool.open(opts);
    // More records behind the replayed ones: the first cycle reads a different range than the one that crashed.
    await spool.append(encodeSpoolPayload('ten_fgenxxxxxxxx', [row('ten_fgenxxxxxxxx', 'gen3a')], ids(3)));
    const lookups: string[] = [];
    const watched: Warehouse = { ...withInsert((t, p, o) => wh.insertJson(t, p, o)), query: (sql, o) => (lookups.push(sql), wh.query(sql, o)) };
    const f = flusher(spool, watched);
    assert.deepEqual(await f.flushOnce(), { rows: 7, tenants: 1 });
    assert.equal(lookups.length, 1, 'records a previous process left are looked up');
    assert.deepEqual(await counts('ten_fgenxxxxxxxx'), { n: 7, uniq: 7 });
    await spool.append(encodeSpoolPayload('ten_fgenxxxxxxxx', [row('ten_fgenxxxxxxxx', 'gen4a')], ids(4)));
    await spool.append(encodeSpoolPayload('ten_fgenxxxxxxxx', [row('ten_fgenxxxxxxxx', 'client-1')]));
    assert.deepEqual(await f.flushOnce(), { rows: 2, tenants: 1 });
    assert.equal(lookups.length, 2, 'a client-chosen id is looked up');
    await spool.append(encodeSpoolPayload('ten_fgenxxxxxxxx', [row('ten_fgenxxxxxxxx', 'gen5a')], ids(5)));
    await f.flushOnce();
    assert.equal(lookups.length, 2, 'only server-generated ids in steady state: no lookup');
    assert.deepEqual(await counts('ten_fgenxxxxxxxx'), { n: 10, uniq: 10 });
    await spool.close();
  });

  test('a group commit is one frame: the row budget never cuts inside it, and the next cycle starts after it', async () => {
    const { spool } = await Spool.open(spoolOptions());
    const tenant = 'ten_fgrpxxxxxxxx';
    await spool.append(encodeSpoolPayload(tenant, [row(tenant, 'g-first')]));
    // Four requests in one tick share a group commit, so one frame.
    await Promise.all([0, 1, 2, 3].map((i) => spool.append(encodeSpoolPayload(tenant, [0, 1, 2].map((j) => row(tenant, `g${i}-${j}`))))));
    await spool.append(encodeSpoolPayload(tenant, [row(tenant, 'g-last')]));
    const { entries } = await spool.read(spool.checkpoint(), { maxRecords: 100 });
    assert.deepEqual(entries.map((e) => e.index), [0, 0, 1, 2, 3, 0], 'the four share a frame');
    const f = flusher(spool, wh, { maxRows: 5 });
    // 1 row, then the 12-row frame would pass 5: the cycle stops before the frame, not inside it.
    assert.deepEqual(await f.flushOnce(), { rows: 1, tenants: 1 });
    assert.equal(spool.stats().records, 5);
    // The frame alone is over the budget and still moves whole.
    assert.deepEqual(await f.flushOnce(), { rows: 12, tenants: 1 });
    assert.equal(spool.stats().records, 1);
    await f.flushOnce();
    assert.deepEqual(await counts(tenant), { n: 14, uniq: 14 });
    await spool.close();
  });

  test('a spool the release before group-sealed frames wrote (segment format 1) is flushed after the upgrade', async () => {
    const { spool, report } = await Spool.open(await writeFormatOneSpool(path.join(engine.dir, `spool-${dirs++}`)));
    assert.equal(report.records, 2);
    // Its records hold payload format 2 (JSONEachRow lines); the one appended now, format 3 (compact lines).
    const { entries } = await spool.read(spool.checkpoint());
    assert.deepEqual(entries.map((e) => e.payload[0]), [PAYLOAD_V2, PAYLOAD_V2]);
    await spool.append(encodeSpoolPayload(FORMAT_ONE_TENANT, [row(FORMAT_ONE_TENANT, 'v2-after-upgrade')]));
    // One cycle, one tenant, both kinds of line: an INSERT for each kind.
    const formats: (string | undefined)[] = [];
    const watched = withInsert((table, payload, o) => {
      if (table === 'events') formats.push(o?.format);
      return wh.insertJson(table, payload, o);
    });
    assert.deepEqual(await flusher(spool, watched).flushOnce(), { rows: 5, tenants: 1 });
    assert.deepEqual(formats, ['JSONCompactEachRow', undefined]);
    const ids = await wh.query<{ message_id: string }>('SELECT message_id FROM events WHERE tenant_id = {t:String} ORDER BY message_id', { params: { t: FORMAT_ONE_TENANT } });
    assert.deepEqual(ids.map((r) => r.message_id), [...formatOneUnflushedIds.flat(), 'v2-after-upgrade'].sort());
    assert.equal(spool.stats().records, 0);
    await spool.close();
  });

  test('a spool written by the previous release (JSON payloads) is flushed after the upgrade, guard included', async () => {
    const opts = spoolOptions();
    const old = await Spool.open(opts);
    await old.spool.append(encodeV1Payload('ten_foldxxxxxxxx', [row('ten_foldxxxxxxxx', 'o1'), row('ten_foldxxxxxxxx', 'o2')]));
    await old.spool.append(encodeV1Payload('ten_foldxxxxxxxx', [row('ten_otherxxxxxxx', 'o3')]));
    await old.spool.close();

    const { spool } = await Spool.open(opts);
    await spool.append(encodeSpoolPayload('ten_foldxxxxxxxx', [row('ten_foldxxxxxxxx', 'o4')]));
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 1 });
    assert.deepEqual(await counts('ten_foldxxxxxxxx'), { n: 3, uniq: 3 });
    assert.deepEqual(await counts('ten_otherxxxxxxx'), { n: 0, uniq: 0 });
    assert.deepEqual((await deadLetters('ten_foldxxxxxxxx')).map((d) => [d.message_id, d.reason]), [['o3', 'guard_violation']]);
    assert.equal(spool.stats().records, 0);
    await spool.close();
  });

  test('a row ClickHouse refuses is dead-lettered (once, even on replay) while its batch-mates land', async () => {
    const opts = spoolOptions();
    const poisoned = row('ten_fpxxxxxxxxxx', 'p-bad', { 'a.b': 1, a: { b: 2 }, note: MARKER });
    const batch = [row('ten_fpxxxxxxxxxx', 'p1'), row('ten_fpxxxxxxxxxx', 'p2'), poisoned, row('ten_fpxxxxxxxxxx', 'p3'), row('ten_fpxxxxxxxxxx', 'p4')];
    const first = await Spool.open(opts);
    await first.spool.append(encodeSpoolPayload('ten_fpxxxxxxxxxx', batch));
    await first.spool.append(encodeSpoolPayload('ten_fqxxxxxxxxxx', [row('ten_fqxxxxxxxxxx', 'q1')]));
    await assert.rejects(flusher(crashingBeforeCommit(first.spool)).flushOnce());
    await first.spool.close();

    const { spool } = await Spool.open(opts);
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 6, tenants: 2 });
    assert.deepEqual(await counts('ten_fpxxxxxxxxxx'), { n: 4, uniq: 4 });
    assert.deepEqual(await counts('ten_fqxxxxxxxxxx'), { n: 1, uniq: 1 });
    const dl = await deadLetters('ten_fpxxxxxxxxxx');
    assert.equal(dl.length, 1, 'replayed dead letter deduplicated by the engine');
    assert.equal(dl[0]?.message_id, 'p-bad');
    assert.match(dl[0]?.reason ?? '', /Code: 117/);
    assert.ok(Buffer.byteLength(dl[0]?.reason ?? '') <= 1024);
    // The row as it was to be inserted: is_bot is its column's default where the row has none.
    assert.deepEqual(JSON.parse(dl[0]?.row ?? '{}'), { ...poisoned, is_bot: 0 });
    assert.equal(spool.stats().records, 0);
    assert.equal(f.status().deadLettered, 1);
    await spool.close();
  });

  test('guard violations dead-letter the offending rows with reason guard_violation; the rest land', async () => {
    const { spool } = await Spool.open(spoolOptions());
    const badType = { ...row('ten_fgxxxxxxxxxx', 'g4'), type: 'purchase' } as unknown as EventRow;
    await spool.append(encodeSpoolPayload('ten_fgxxxxxxxxxx', [row('ten_fgxxxxxxxxxx', 'g1'), row('ten_othertenantx', 'g2'), row('ten_fgxxxxxxxxxx', 'g3'), badType]));
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 1 });
    assert.deepEqual(await counts('ten_fgxxxxxxxxxx'), { n: 2, uniq: 2 });
    assert.deepEqual(await counts('ten_othertenantx'), { n: 0, uniq: 0 });
    const dl = await deadLetters('ten_fgxxxxxxxxxx');
    assert.deepEqual(dl.map((d) => [d.message_id, d.reason]), [['g2', 'guard_violation'], ['g4', 'guard_violation']]);
    const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === 'guard_violation' && l.tenantId === 'ten_fgxxxxxxxxxx');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.level, 50);
    assert.equal(f.status().guardViolations, 2, 'counted for the alert');
    assert.deepEqual(f.status().deadLetteredByReason, { clickhouse_rejected: 0, guard_violation: 2, undecodable: 0 });
    await spool.close();
  });

  test('an unavailable warehouse is retried with backoff; nothing is committed until the insert lands', async () => {
    let failuresLeft = 3;
    const attempts: number[] = [];
    const flaky = withInsert(async (table, payload, o) => {
      attempts.push(Date.now());
      if (failuresLeft-- > 0) throw new WarehouseError('down', 'unavailable', undefined);
      await wh.insertJson(table, payload, o);
    });
    const { spool } = await Spool.open(spoolOptions());
    await spool.append(encodeSpoolPayload('ten_fuxxxxxxxxxx', [row('ten_fuxxxxxxxxxx', 'u1'), row('ten_fuxxxxxxxxxx', 'u2')]));
    const commits: number[] = [];
    const watched: FlusherOptions['spool'] = {
      read: (c, l) => spool.read(c, l), checkpoint: () => spool.checkpoint(), stats: () => spool.stats(),
      commit: async (c) => {
        commits.push(attempts.length);
        await spool.commit(c);
      },
    };
    const f = flusher(watched, flaky, { intervalMs: 10_000, unhealthyAfter: 2 });
    await assert.rejects(f.flushOnce(), (e: unknown) => e instanceof WarehouseError && e.kind === 'unavailable');
    assert.deepEqual(f.status(), {
      healthy: true, consecutiveFailures: 1, lastError: 'WarehouseError unavailable', lastSuccessAt: null, rowsFlushed: 0,
      rowsInserted: 0, duplicatesSkipped: 0, deadLettered: 0, deadLetteredByReason: { clickhouse_rejected: 0, guard_violation: 0, undecodable: 0 }, guardViolations: 0,
    });
    const started = Date.now();
    f.start();
    while (f.status().lastSuccessAt === null && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(commits, [4], 'committed once, after the fourth insert attempt succeeded');
    assert.ok(f.status().healthy && f.status().consecutiveFailures === 0);
    assert.ok(Date.now() - started < 2_000, 'full-jitter backoff from 100 ms: three retries well under 2 s');
    assert.deepEqual(await counts('ten_fuxxxxxxxxxx'), { n: 2, uniq: 2 });
    assert.deepEqual(await f.stop({ deadlineMs: 1000 }), { drained: true, records: 0 });
    await spool.close();
  });

  test('a limit error halves the next batch so an oversized batch cannot stall the spool', async () => {
    let limitsLeft = 1;
    const limited = withInsert(async (table, payload, o) => {
      if (limitsLeft-- > 0) throw new WarehouseError('too many rows', 'limit', 158);
      await wh.insertJson(table, payload, o);
    });
    const { spool } = await Spool.open(spoolOptions());
    for (let i = 0; i < 2; i++) await spool.append(encodeSpoolPayload('ten_flxxxxxxxxxx', [0, 1, 2, 3].map((j) => row('ten_flxxxxxxxxxx', `l${i}-${j}`))));
    const f = flusher(spool, limited, { maxRows: 8 });
    await assert.rejects(f.flushOnce(), (e: unknown) => e instanceof WarehouseError && e.kind === 'limit');
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 1 });
    assert.deepEqual(await f.flushOnce(), { rows: 4, tenants: 1 });
    assert.deepEqual(await counts('ten_flxxxxxxxxxx'), { n: 8, uniq: 8 });
    await spool.close();
  });

  test('a record that is not a spool payload is dead-lettered and the flusher moves on', async () => {
    const { spool } = await Spool.open(spoolOptions());
    await spool.append(Buffer.from('not json'));
    await spool.append(encodeSpoolPayload('ten_fdxxxxxxxxxx', [row('ten_fdxxxxxxxxxx', 'd1')]));
    const f = flusher(spool);
    assert.deepEqual(await f.flushOnce(), { rows: 1, tenants: 1 });
    assert.deepEqual(await counts('ten_fdxxxxxxxxxx'), { n: 1, uniq: 1 });
    const [dl] = await wh.query<{ reason: string; row: string }>("SELECT reason, row FROM dead_letters WHERE tenant_id = '' AND row = 'not json'");
    assert.equal(dl?.reason, 'undecodable_payload');
    assert.equal(spool.stats().records, 0);
    await spool.close();
  });

  test('stop() flushes what is left before the deadline', async () => {
    const { spool } = await Spool.open(spoolOptions());
    const f = flusher(spool, wh, { intervalMs: 60_000 });
    f.start();
    await spool.append(encodeSpoolPayload('ten_fsxxxxxxxxxx', [row('ten_fsxxxxxxxxxx', 's1')]));
    await spool.append(encodeSpoolPayload('ten_fsxxxxxxxxxx', [row('ten_fsxxxxxxxxxx', 's2')]));
    assert.deepEqual(await f.stop({ deadlineMs: 5_000 }), { drained: true, records: 0 });
    assert.deepEqual(await counts('ten_fsxxxxxxxxxx'), { n: 2, uniq: 2 });
    await spool.close();
  });

  test('logs carry counts, tenant ids and codes, never row contents', () => {
    assert.ok(logLines.length > 0);
    for (const line of logLines) assert.ok(!line.includes(MARKER) && !line.includes('Signed Up'), line);
  });
});

test("a spool group's token is the one earlier versions computed: a replay after an upgrade is still dropped by the engine", () => {
  const g = { positions: ['3.1024', '3.2048'], rows: [{ messageId: 'm-1' }, { messageId: 'é-2' }, { messageId: 'ajs-3' }] };
  // The value the previous code (a hash update per part) gave for this group.
  assert.equal(groupToken(g), 'sp4f7803c57555f0b31519fb9a7de08b5a');
  // Each part counts: another position, another id, another order.
  assert.notEqual(groupToken({ ...g, positions: ['3.1024'] }), groupToken(g));
  assert.notEqual(groupToken({ ...g, rows: g.rows.slice(1) }), groupToken(g));
  assert.notEqual(groupToken({ ...g, rows: [...g.rows].reverse() }), groupToken(g));
});
