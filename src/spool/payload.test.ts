import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { EventRow } from '../../schemas/event-row.ts';
import { compactLine, EVENT_COLUMNS } from '../storage/event-writer.ts';
import { decodeSpoolPayload, encodeSpoolPayload, PAYLOAD_V2, PAYLOAD_V3, SpoolPayloadError } from './payload.ts';
import { Spool } from './spool.ts';

const root = await mkdtemp(path.join(os.tmpdir(), 'palisade-payload-'));
after(() => rm(root, { recursive: true, force: true }));

function row(tenant: string, id: string, extra: Partial<EventRow> = {}): EventRow {
  return {
    tenant_id: tenant, message_id: id, type: 'track', event: 'Signed Up', user_id: 'u1', anonymous_id: '', group_id: '',
    previous_id: '', timestamp: '2026-11-24 10:00:00.123', original_timestamp: null, sent_at: null, received_at: '2026-11-24 10:00:01.000',
    properties: { plan: 'pro', 'ünï': 'ç' }, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'key1', ...extra,
  };
}

/**
 * A record as the previous release wrote it: this fixture is its encoder's
 * exact output (`JSON.stringify({ tenantId, rows })`) for one row, so the
 * test keeps passing whatever the encoder in the code becomes.
 */
const V1_FIXTURE =
  '{"tenantId":"ten_old","rows":[{"tenant_id":"ten_old","message_id":"old-1","type":"track","event":"Signed Up","user_id":"u1",' +
  '"anonymous_id":"","group_id":"","previous_id":"","timestamp":"2026-10-02 08:00:00.000","original_timestamp":null,"sent_at":null,' +
  '"received_at":"2026-10-02 08:00:00.500","properties":{"plan":"pro"},"traits":{},"context":{},"ip":"","user_agent":"","key_id":"k"}]}';

/**
 * A record as the release before format 3 wrote it (format 2: JSONEachRow
 * object lines), made by that release's encodeSpoolPayload for the rows in
 * V2_ROWS ('v2-gen' a generated id, 'v2-bad' of another tenant, so refused).
 */
const V2_FIXTURE = Buffer.from(
  'AgAHdGVuX29sZAAAAAMAAAR2Mi0xMjAyNi0xMS0wMiAwODowMDowMC4wMDAAAAF4AQAGdjItZ2VuMjAyNi0xMS0wMiAwODowMDowMS4wMDAAAAFoAgAGdjIt' +
  'YmFkMDAwMC0wMC0wMCAwMDowMDowMC4wMDAAAAFPeyJ0ZW5hbnRfaWQiOiJ0ZW5fb2xkIiwibWVzc2FnZV9pZCI6InYyLTEiLCJ0eXBlIjoidHJhY2siLCJl' +
  'dmVudCI6IlNpZ25lZCBVcCIsInVzZXJfaWQiOiJ1MSIsImFub255bW91c19pZCI6IiIsImdyb3VwX2lkIjoiIiwicHJldmlvdXNfaWQiOiIiLCJ0aW1lc3Rh' +
  'bXAiOiIyMDI2LTExLTAyIDA4OjAwOjAwLjAwMCIsIm9yaWdpbmFsX3RpbWVzdGFtcCI6bnVsbCwic2VudF9hdCI6bnVsbCwicmVjZWl2ZWRfYXQiOiIyMDI2' +
  'LTExLTAyIDA4OjAwOjAwLjUwMCIsInByb3BlcnRpZXMiOnsicGxhbiI6InBybyIsIsO8bsOvIjoiw6cifSwidHJhaXRzIjp7fSwiY29udGV4dCI6e30sImlw' +
  'IjoiIiwidXNlcl9hZ2VudCI6IiIsImtleV9pZCI6ImsiLCJpc19ib3QiOjB9CnsidGVuYW50X2lkIjoidGVuX29sZCIsIm1lc3NhZ2VfaWQiOiJ2Mi1nZW4i' +
  'LCJ0eXBlIjoicGFnZSIsImV2ZW50IjoiSG9tZSIsInVzZXJfaWQiOiIiLCJhbm9ueW1vdXNfaWQiOiJhMSIsImdyb3VwX2lkIjoiIiwicHJldmlvdXNfaWQi' +
  'OiIiLCJ0aW1lc3RhbXAiOiIyMDI2LTExLTAyIDA4OjAwOjAxLjAwMCIsIm9yaWdpbmFsX3RpbWVzdGFtcCI6bnVsbCwic2VudF9hdCI6bnVsbCwicmVjZWl2' +
  'ZWRfYXQiOiIyMDI2LTExLTAyIDA4OjAwOjAxLjUwMCIsInByb3BlcnRpZXMiOnt9LCJ0cmFpdHMiOnt9LCJjb250ZXh0Ijp7ImxvY2FsZSI6ImVuIn0sImlw' +
  'IjoiIiwidXNlcl9hZ2VudCI6IiIsImtleV9pZCI6ImsiLCJpc19ib3QiOjF9CnsidGVuYW50X2lkIjoidGVuX290aGVyIiwibWVzc2FnZV9pZCI6InYyLWJh' +
  'ZCIsInR5cGUiOiJ0cmFjayIsImV2ZW50IjoiWCIsInVzZXJfaWQiOiJ1MiIsImFub255bW91c19pZCI6IiIsImdyb3VwX2lkIjoiIiwicHJldmlvdXNfaWQi' +
  'OiIiLCJ0aW1lc3RhbXAiOiIyMDI2LTExLTAyIDA4OjAwOjAyLjAwMCIsIm9yaWdpbmFsX3RpbWVzdGFtcCI6bnVsbCwic2VudF9hdCI6bnVsbCwicmVjZWl2' +
  'ZWRfYXQiOiIyMDI2LTExLTAyIDA4OjAwOjAyLjUwMCIsInByb3BlcnRpZXMiOnt9LCJ0cmFpdHMiOnt9LCJjb250ZXh0Ijp7fSwiaXAiOiIiLCJ1c2VyX2Fn' +
  'ZW50IjoiIiwia2V5X2lkIjoiayJ9',
  'base64',
);
const V2_ROWS = [
  { tenant_id: 'ten_old', message_id: 'v2-1', type: 'track', event: 'Signed Up', user_id: 'u1', anonymous_id: '', group_id: '', previous_id: '', timestamp: '2026-11-02 08:00:00.000', original_timestamp: null, sent_at: null, received_at: '2026-11-02 08:00:00.500', properties: { plan: 'pro', 'ünï': 'ç' }, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'k', is_bot: 0 },
  { tenant_id: 'ten_old', message_id: 'v2-gen', type: 'page', event: 'Home', user_id: '', anonymous_id: 'a1', group_id: '', previous_id: '', timestamp: '2026-11-02 08:00:01.000', original_timestamp: null, sent_at: null, received_at: '2026-11-02 08:00:01.500', properties: {}, traits: {}, context: { locale: 'en' }, ip: '', user_agent: '', key_id: 'k', is_bot: 1 },
  { tenant_id: 'ten_other', message_id: 'v2-bad', type: 'track', event: 'X', user_id: 'u2', anonymous_id: '', group_id: '', previous_id: '', timestamp: '2026-11-02 08:00:02.000', original_timestamp: null, sent_at: null, received_at: '2026-11-02 08:00:02.500', properties: {}, traits: {}, context: {}, ip: '', user_agent: '', key_id: 'k' },
];

/** A compact line's values as the row they stand for (is_bot 0 where the row has none). */
function rowOfCompact(line: string): Record<string, unknown> {
  const values = JSON.parse(line) as unknown[];
  return Object.fromEntries(EVENT_COLUMNS.map((c, i) => [c, values[i]]));
}

describe('spool payload', () => {
  test('a record holds each row as its INSERT line, with its id, timestamp and whether the server made the id', () => {
    const rows = [row('ten_a', 'm1'), row('ten_a', 'gen-1', { is_bot: 1 })];
    const buf = encodeSpoolPayload('ten_a', rows, new Set(['gen-1']));
    assert.equal(buf[0], PAYLOAD_V3);
    const p = decodeSpoolPayload(buf);
    assert.equal(p.tenantId, 'ten_a');
    assert.deepEqual(p.refused, []);
    assert.deepEqual(
      p.rows.map((r) => [r.messageId, r.timestamp, r.generatedId, r.compact, r.line.toString()]),
      rows.map((r, i) => [r.message_id, r.timestamp, i === 1, true, compactLine(r)]),
    );
    // The lines are the bytes ClickHouse gets: concatenated, they are the JSONCompactEachRow body, in EVENT_COLUMNS order.
    assert.deepEqual(Buffer.concat(p.rows.map((r) => r.line)).toString().trimEnd().split('\n').map(rowOfCompact), [{ ...rows[0], is_bot: 0 }, rows[1]]);
  });

  test('rows that fail the storage guard are kept apart, as JSON for the dead-letter table', () => {
    const bad = [row('other', 'x1'), { ...row('ten_a', 'x2'), timestamp: 'yesterday' }, { ...row('ten_a', 'x3'), message_id: 7 } as unknown as EventRow];
    const p = decodeSpoolPayload(encodeSpoolPayload('ten_a', [row('ten_a', 'ok'), ...bad], new Set(['x1'])));
    assert.deepEqual(p.rows.map((r) => r.messageId), ['ok']);
    assert.deepEqual(p.refused.map((r) => [r.messageId, JSON.parse(r.row) as unknown]), [['x1', bad[0]], ['x2', bad[1]], ['', bad[2]]]);
  });

  test('a record of the previous release (JSON) still decodes, its rows guarded and encoded now', () => {
    const p = decodeSpoolPayload(Buffer.from(V1_FIXTURE));
    assert.equal(p.tenantId, 'ten_old');
    assert.deepEqual(p.rows.map((r) => [r.messageId, r.timestamp, r.generatedId]), [['old-1', '2026-10-02 08:00:00.000', false]]);
    const original = (JSON.parse(V1_FIXTURE) as { rows: unknown[] }).rows[0];
    assert.equal(p.rows[0]?.line.toString(), compactLine(original as EventRow));
    assert.deepEqual(decodeSpoolPayload(Buffer.from(JSON.stringify({ tenantId: 'ten_old', rows: [row('ten_new', 'n1')] }))).refused.map((r) => r.messageId), ['n1']);
  });

  test('a record of the release before format 3 (JSONEachRow lines) still decodes, its lines as written', () => {
    assert.equal(V2_FIXTURE[0], PAYLOAD_V2);
    const p = decodeSpoolPayload(V2_FIXTURE);
    assert.equal(p.tenantId, 'ten_old');
    assert.deepEqual(
      p.rows.map((r) => [r.messageId, r.timestamp, r.generatedId, r.compact, r.line.toString()]),
      V2_ROWS.slice(0, 2).map((r, i) => [r.message_id, r.timestamp, i === 1, false, JSON.stringify(r) + '\n']),
    );
    assert.deepEqual(p.refused.map((r) => [r.messageId, JSON.parse(r.row) as unknown]), [['v2-bad', V2_ROWS[2]]]);
  });

  test('what is neither format is refused, never half-read', () => {
    const good = encodeSpoolPayload('ten_a', [row('ten_a', 'm1')]);
    for (const bad of [
      Buffer.from('nope'),
      Buffer.from('{"tenantId":1,"rows":[]}'),
      Buffer.from('{"tenantId":"t","rows":[1]}'),
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from('x')]),
      Buffer.from([PAYLOAD_V2, 0, 1, 0x61, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([PAYLOAD_V3, 0, 1, 0x61, 0xff, 0xff, 0xff, 0xff]),
      V2_FIXTURE.subarray(0, V2_FIXTURE.length - 1),
    ]) {
      assert.throws(() => decodeSpoolPayload(bad), SpoolPayloadError);
    }
  });

  test('a record written by this version is read back whole after a crash tore the record behind it', async () => {
    const opts = { dir: path.join(root, 'crash'), keys: new Map([['k1', randomBytes(32)]]), currentKeyId: 'k1' };
    const first = await Spool.open(opts);
    const rows = [row('ten_c', 'c1'), row('ten_c', 'c2')];
    await first.spool.append(encodeSpoolPayload('ten_c', rows, new Set(['c2'])));
    await first.spool.append(encodeSpoolPayload('ten_c', [row('ten_c', 'c3')]));
    // No close: the process dies; the second record is cut in half on disk.
    const seg = path.join(opts.dir, (await readdir(opts.dir)).filter((f) => f.endsWith('.log')).sort().at(-1) ?? '');
    const fd = await open(seg, 'r+');
    const { size } = await fd.stat();
    await fd.truncate(size - 40);
    await fd.close();

    const { spool, report } = await Spool.open(opts);
    assert.ok(report.tornTail);
    const { entries } = await spool.read(spool.checkpoint());
    assert.equal(entries.length, 1);
    const p = decodeSpoolPayload(entries[0]?.payload ?? Buffer.alloc(0));
    assert.deepEqual(p.rows.map((r) => [r.messageId, r.generatedId, r.line.toString()]), rows.map((r, i) => [r.message_id, i === 1, compactLine(r)]));
    await spool.close();
    await first.spool.close().catch(() => undefined);
  });
});
