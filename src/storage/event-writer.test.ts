import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRow } from '../../schemas/event-row.ts';
import { guardRows, GuardViolation } from './event-writer.ts';

const row = (over: Partial<EventRow> = {}): EventRow => ({
  tenant_id: 'ten_A',
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
  guardRows('ten_A', [row(), row({ message_id: 'm2', sent_at: '2026-11-24 09:00:00.000' })]);
});

test('the second check refuses a row of another tenant and malformed columns', () => {
  const cases: [string, EventRow][] = [
    ['tenant_id differs', row({ tenant_id: 'ten_B' })],
    ['message_id malformed', row({ message_id: '' })],
    ['message_id malformed', row({ message_id: 'x'.repeat(300) })],
    ['type is not an event type', row({ type: 'drop' as EventRow['type'] })],
    ['timestamp malformed', row({ timestamp: '2026-11-24T10:00:00Z' })],
    ['JSON columns must be objects', row({ properties: [] as unknown as EventRow['properties'] })],
    ['user_id must be a string', row({ user_id: 5 as unknown as string })],
  ];
  for (const [why, r] of cases) {
    assert.throws(() => guardRows('ten_A', [row({ message_id: 'ok' }), r]), (err: unknown) => {
      assert.ok(err instanceof GuardViolation);
      assert.equal(err.rowIndex, 1);
      assert.match(err.message, new RegExp(why));
      return true;
    });
  }
  assert.throws(() => guardRows("ten_A' OR 1", [row()]), GuardViolation);
});
