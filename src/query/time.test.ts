import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../errors/index.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { bucketAxis, resolveRange } from './time.ts';

const NOW = new Date('2026-11-24T12:00:00.000Z');

test('relative and absolute ranges resolve against the clock', () => {
  const r = resolveRange({ from: '-7d', to: 'now' }, NOW);
  assert.equal(r.from.toISOString(), '2026-11-17T12:00:00.000Z');
  assert.equal(r.to.toISOString(), NOW.toISOString());
  assert.equal(resolveRange({ from: '2026-11-01', to: '-90m' }, NOW).to.toISOString(), '2026-11-24T10:30:00.000Z');
  assert.throws(() => resolveRange({ from: 'now', to: '-1d' }, NOW), AppError);
});

test('day buckets are calendar days of the zone, across a DST change', () => {
  // New York leaves DST on 2026-11-01: that day has 25 hours, still one bucket.
  const r = { from: new Date('2026-10-31T04:00:00Z'), to: new Date('2026-11-03T05:00:00Z') };
  assert.deepEqual(bucketAxis('day', r, 'America/New_York'), ['2026-10-31', '2026-11-01', '2026-11-02']);
});

test('hour buckets label wall-clock hours; the repeated 01:00 of a fall-back night is one bucket', () => {
  const r = { from: new Date('2026-11-01T04:00:00Z'), to: new Date('2026-11-01T08:00:00Z') };
  // 04:00Z-08:00Z is 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST: ClickHouse prints both 01:00 hours as one label.
  assert.deepEqual(bucketAxis('hour', r, 'America/New_York'), ['2026-11-01 00:00:00', '2026-11-01 01:00:00', '2026-11-01 02:00:00']);
});

test('week buckets start on Monday; month buckets on the 1st', () => {
  const r = { from: new Date('2026-10-28T00:00:00Z'), to: new Date('2026-11-24T00:00:00Z') };
  assert.deepEqual(bucketAxis('week', r, 'UTC'), ['2026-10-26', '2026-11-02', '2026-11-09', '2026-11-16', '2026-11-23']);
  assert.deepEqual(bucketAxis('month', r, 'UTC'), ['2026-10-01', '2026-11-01']);
});

test('a cursor round-trips for its tenant only', () => {
  const c = encodeCursor({ ts: '2026-11-24 10:00:00.000', messageId: 'm1' }, 'ten_A');
  assert.match(c, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(c, 'ten_A'), { ts: '2026-11-24 10:00:00.000', messageId: 'm1' });
  assert.throws(() => decodeCursor(c, 'ten_B'), (e: unknown) => e instanceof AppError && e.code === 'invalid_cursor');
  const forged = Buffer.from(JSON.stringify(["2026-11-24 10:00:00.000') OR 1=1 --", 'm1', 'x'])).toString('base64url');
  assert.throws(() => decodeCursor(forged, 'ten_A'), AppError);
});
