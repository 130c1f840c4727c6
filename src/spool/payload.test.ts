import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { EventRow } from '../../schemas/event-row.ts';
import { decodeSpoolPayload, encodeSpoolPayload, PAYLOAD_V2, SpoolPayloadError } from './payload.ts';
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

describe('spool payload', () => {
  test('a record holds each row as its INSERT line, with its id, timestamp and whether the server made the id', () => {
    const rows = [row('ten_a', 'm1'), row('ten_a', 'gen-1', { is_bot: 1 })];
    const buf = encodeSpoolPayload('ten_a', rows, new Set(['gen-1']));
    assert.equal(buf[0], PAYLOAD_V2);
    const p = decodeSpoolPayload(buf);
    assert.equal(p.tenantId, 'ten_a');
    assert.deepEqual(p.refused, []);
    assert.deepEqual(
      p.rows.map((r) => [r.messageId, r.timestamp, r.generatedId, r.line.toString()]),
      rows.map((r, i) => [r.message_id, r.timestamp, i === 1, JSON.stringify(r) + '\n']),
    );
    // The lines are the bytes ClickHouse gets: concatenated, they are the JSONEachRow body.
    assert.deepEqual(Buffer.concat(p.rows.map((r) => r.line)).toString().trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), rows);
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
    assert.equal(p.rows[0]?.line.toString(), JSON.stringify(original) + '\n');
    assert.deepEqual(decodeSpoolPayload(Buffer.from(JSON.stringify({ tenantId: 'ten_old', rows: [row('ten_new', 'n1')] }))).refused.map((r) => r.messageId), ['n1']);
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
    assert.deepEqual(p.rows.map((r) => [r.messageId, r.generatedId, r.line.toString()]), rows.map((r, i) => [r.message_id, i === 1, JSON.stringify(r) + '\n']));
    await spool.close();
    await first.spool.close().catch(() => undefined);
  });
});
