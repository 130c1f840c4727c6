import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnginePriority, SLOW_MS } from './engine-priority.ts';

test('a tenant whose reads are slow yields; a light tenant and a new one go first; exports always yield', () => {
  const p = new EnginePriority();
  assert.equal(p.priorityOf('new', 'interactive'), 1);
  assert.equal(p.priorityOf('new', 'bulk'), 2);
  for (let i = 0; i < 5; i++) p.observe('heavy', 4_000);
  for (let i = 0; i < 5; i++) p.observe('light', 20);
  assert.equal(p.priorityOf('heavy', 'interactive'), 2);
  assert.equal(p.priorityOf('light', 'interactive'), 1);
});

test('one slow read does not demote a light tenant, and a tenant that turns light is promoted within a few reads', () => {
  const p = new EnginePriority();
  for (let i = 0; i < 5; i++) p.observe('t', 20);
  p.observe('t', 3 * SLOW_MS);
  assert.equal(p.priorityOf('t', 'interactive'), 1);
  for (let i = 0; i < 5; i++) p.observe('t', 5 * SLOW_MS);
  assert.equal(p.priorityOf('t', 'interactive'), 2);
  let reads = 0;
  while (p.priorityOf('t', 'interactive') === 2) {
    p.observe('t', 20);
    reads++;
  }
  assert.ok(reads <= 8, `promoted after ${reads} light reads`);
});
