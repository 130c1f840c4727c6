import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedCache } from './bounded.ts';

test('holds at most its number of entries, evicting the least recently used', () => {
  const c = boundedCache<string, number>(3);
  for (const [i, k] of ['a', 'b', 'c'].entries()) c.set(k, i);
  assert.equal(c.get('a'), 0); // a is now the most recent
  c.set('d', 3);
  assert.equal(c.size, 3);
  assert.deepEqual([...c.keys()].sort(), ['a', 'c', 'd']);
  for (let i = 0; i < 1_000; i++) c.set(`k${i}`, i);
  assert.equal(c.size, 3);
  assert.deepEqual([...c.keys()].sort(), ['k997', 'k998', 'k999']);
});

test('takes its memory as entries come: bounded by size, no slot preallocated', () => {
  const c = boundedCache<string, number>(100_000);
  // lru-cache preallocates `max` slots; a size-bounded cache has max 0 and grows.
  assert.equal(c.max, 0);
  assert.equal(c.maxSize, 100_000);
});

test('passes the other options through (ttl)', async () => {
  const c = boundedCache<string, number>(10, { ttl: 20 });
  c.set('a', 1);
  assert.equal(c.get('a'), 1);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(c.get('a'), undefined);
});
