import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, classify, retryAfterMs } from './retry.ts';

test('what is retried: no answer, 408, 429, 5xx; never another 4xx', () => {
  assert.deepEqual([0, 200, 204, 400, 401, 403, 404, 408, 413, 429, 500, 503].map(classify), ['retry', 'ok', 'ok', 'fatal', 'fatal', 'fatal', 'fatal', 'retry', 'fatal', 'retry', 'retry', 'retry']);
});

test('Retry-After in seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('2', now), 2_000);
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5_000);
  assert.equal(retryAfterMs('soon', now), 0);
  assert.equal(retryAfterMs(undefined, now), 0);
});

test('backoff doubles, is capped, jitters within [half, full], and never undercuts Retry-After', () => {
  const o = { baseMs: 100, maxMs: 1_000 };
  assert.equal(backoffMs(0, o, () => 0), 50);
  assert.equal(backoffMs(0, o, () => 1), 100);
  assert.equal(backoffMs(3, o, () => 1), 800);
  assert.equal(backoffMs(10, o, () => 1), 1_000);
  assert.equal(backoffMs(50, o, () => 0), 500);
  assert.equal(backoffMs(0, { ...o, retryAfterMs: 5_000 }, () => 0), 5_000);
});
