import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { CLICKHOUSE_TIME_RE, toClickHouseTime } from './event-row.ts';

const expected = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

test('toClickHouseTime: UTC, millisecond text ClickHouse parses', () => {
  assert.equal(toClickHouseTime(new Date(Date.UTC(2026, 10, 24, 10, 0, 0, 123))), '2026-11-24 10:00:00.123');
  assert.match(toClickHouseTime(new Date()), CLICKHOUSE_TIME_RE);
  assert.equal(toClickHouseTime(new Date(Date.UTC(12026, 0, 1))), '+012026-01-01 00:00:00.000');
});

test('toClickHouseTime: the cache of recent conversions never answers for another time', () => {
  // An event's four time columns interleaved over many events (the per-event ones change, the
  // request's repeat), plus runs of more distinct times than the cache holds.
  const base = Date.UTC(2026, 11, 6, 12, 0, 0, 0);
  for (let i = 0; i < 2_000; i++) {
    const times = [base + i * 7, base + i * 7 - 3_000, base + 60_000, base + 61_000, base + (i % 9) * 1_000];
    for (const ms of times) assert.equal(toClickHouseTime(new Date(ms)), expected(ms));
  }
  assert.throws(() => toClickHouseTime(new Date(Number.NaN)), RangeError);
});

test("toClickHouseTime: a row's four time columns, repeating over a request's events, are each converted once", () => {
  const base = Date.UTC(2026, 11, 6, 13, 0, 0, 0);
  const four = [base, base + 1, base + 2, base + 3]; // timestamp, original_timestamp, sent_at, received_at
  const iso = mock.method(Date.prototype, 'toISOString');
  try {
    for (let event = 0; event < 50; event++) for (const ms of four) assert.equal(toClickHouseTime(new Date(ms)), expected(ms));
    assert.equal(iso.mock.callCount(), 4 + 200); // four conversions, and `expected` calls it 200 times itself
  } finally {
    iso.mock.restore();
  }
});
