/**
 * The audit trail's time range and cursor are checked before the engine sees
 * them: a time outside [1970, 2200) or a cursor this API did not issue is a
 * 400 with a code (it used to reach ClickHouse and answer 500 internal).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { parseSince, readTrail } from './trail.ts';

const NOW = Date.UTC(2026, 11, 6, 12);

function recordingWarehouse(): { wh: Warehouse; calls: unknown[] } {
  const calls: unknown[] = [];
  const wh: Warehouse = {
    kind: 'embedded',
    database: 'palisade',
    query: async (sql, o) => {
      calls.push({ sql, params: o?.params });
      return [];
    },
    command: async () => undefined,
    insertJson: async () => undefined,
    ping: async () => ({ ok: true }),
    close: async () => undefined,
  };
  return { wh, calls };
}

const cursor = (c: unknown) => Buffer.from(JSON.stringify(c)).toString('base64url');

test('audit since/until: a relative 999999d and the +275760 ISO year are refused, not sent to the engine', () => {
  assert.equal(parseSince('999999d', NOW), undefined);
  assert.equal(parseSince('+275760-09-13T00:00:00Z', NOW), undefined);
  assert.equal(parseSince('-000001-01-01T00:00:00Z', NOW), undefined);
  assert.equal(parseSince('1969-12-31T23:59:59Z', NOW), undefined);
  assert.equal(parseSince('2200-01-01T00:00:00Z', NOW), undefined);
  assert.equal(parseSince('x'.repeat(100), NOW), undefined);
  // What is valid stays valid.
  assert.equal(parseSince('7d', NOW)?.getTime(), NOW - 7 * 86_400_000);
  assert.equal(parseSince('2026-01-01T00:00:00Z', NOW)?.toISOString(), '2026-01-01T00:00:00.000Z');
  assert.equal(parseSince('1970-01-01T00:00:00Z', NOW)?.getTime(), 0);
});

test('audit after cursor: seq -1, an impossible time and garbage are invalid_cursor before any query', async () => {
  const { wh, calls } = recordingWarehouse();
  const bad = [
    cursor({ at: '2026-01-01 00:00:00.000', node: 'n', seq: -1 }),
    cursor({ at: '2026-01-01 00:00:00.000', node: 'n', seq: 2 ** 60 }),
    cursor({ at: '2026-02-30 00:00:00.000', node: 'n', seq: 1 }),
    cursor({ at: '9999-99-99 99:99:99.999', node: 'n', seq: 1 }),
    cursor({ at: '2026-01-01 00:00:00.000', node: 'n'.repeat(300), seq: 1 }),
    'not-a-cursor',
    'A'.repeat(5_000),
  ];
  for (const after of bad) {
    await assert.rejects(readTrail(wh, 'ten_aaaaaaaaaaaa', { limit: 10, after }), (err: unknown) => {
      assert.ok(err instanceof AppError, String(err));
      assert.equal(err.code, ErrorCode.INVALID_CURSOR);
      assert.equal(err.status, 400);
      return true;
    });
  }
  assert.equal(calls.length, 0, 'nothing reached the engine');
  await readTrail(wh, 'ten_aaaaaaaaaaaa', { limit: 10, after: cursor({ at: '2026-01-01 00:00:00.000', node: 'n', seq: 0 }) });
  assert.equal(calls.length, 1, 'a cursor this API could have issued is used');
});
