import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveTimestamps } from './timestamps.ts';

const received = new Date('2026-03-10T12:00:00.000Z');

describe('resolveTimestamps', () => {
  test('no client time: the event happened when we received it', () => {
    assert.deepEqual(resolveTimestamps({}, received), {
      ok: true,
      value: {
        timestamp: '2026-03-10 12:00:00.000',
        original_timestamp: null,
        sent_at: null,
        received_at: '2026-03-10 12:00:00.000',
      },
    });
    assert.deepEqual(resolveTimestamps({ sentAt: '2026-03-10T09:00:00Z' }, received), {
      ok: true,
      value: {
        timestamp: '2026-03-10 12:00:00.000',
        original_timestamp: null,
        sent_at: '2026-03-10 09:00:00.000',
        received_at: '2026-03-10 12:00:00.000',
      },
    });
  });

  test('a device clock 1 h behind is corrected to server time', () => {
    // The device thinks it is 11:00 when it sends; the event happened 5 minutes earlier on its clock.
    const r = resolveTimestamps({ timestamp: '2026-03-10T10:55:00Z', sentAt: '2026-03-10T11:00:00Z' }, received);
    assert.deepEqual(r, {
      ok: true,
      value: {
        timestamp: '2026-03-10 11:55:00.000',
        original_timestamp: '2026-03-10 10:55:00.000',
        sent_at: '2026-03-10 11:00:00.000',
        received_at: '2026-03-10 12:00:00.000',
      },
    });
  });

  test('a device clock ahead is corrected backwards; offsets are honoured', () => {
    const r = resolveTimestamps({ timestamp: '2026-03-10T15:00:00+02:00', sentAt: '2026-03-10T15:30:00+02:00' }, received);
    assert.equal(r.ok && r.value.timestamp, '2026-03-10 11:30:00.000');
  });

  test('without a sentAt the device time is kept as sent', () => {
    const r = resolveTimestamps({ timestamp: '2026-03-01T00:00:00.5Z' }, received);
    assert.deepEqual(r.ok && [r.value.timestamp, r.value.original_timestamp], ['2026-03-01 00:00:00.500', '2026-03-01 00:00:00.500']);
  });

  test('originalTimestamp stands in for a missing timestamp, corrected the same way', () => {
    const r = resolveTimestamps({ originalTimestamp: '2026-03-10T10:00:00Z', sentAt: '2026-03-10T10:30:00Z' }, received);
    assert.deepEqual(r.ok && [r.value.timestamp, r.value.original_timestamp], ['2026-03-10 11:30:00.000', '2026-03-10 10:00:00.000']);
    const both = resolveTimestamps({ timestamp: '2026-03-10T11:00:00Z', originalTimestamp: '2020-01-01T00:00:00Z' }, received);
    assert.deepEqual(both.ok && [both.value.timestamp, both.value.original_timestamp], ['2026-03-10 11:00:00.000', '2026-03-10 11:00:00.000']);
  });

  test('more than 24 h in the future is clamped to receivedAt; less is kept', () => {
    const far = resolveTimestamps({ timestamp: '2026-03-11T12:00:00.001Z' }, received);
    assert.deepEqual(far.ok && [far.value.timestamp, far.value.original_timestamp], ['2026-03-10 12:00:00.000', '2026-03-11 12:00:00.001']);
    const near = resolveTimestamps({ timestamp: '2026-03-11T12:00:00.000Z' }, received);
    assert.equal(near.ok && near.value.timestamp, '2026-03-11 12:00:00.000');
    const year2200 = resolveTimestamps({ timestamp: '2200-01-01T00:00:00Z' }, received);
    assert.equal(year2200.ok && year2200.value.timestamp, '2026-03-10 12:00:00.000');
  });

  test('a correction that lands before 1970 is refused, not stored', () => {
    const r = resolveTimestamps({ timestamp: '1970-01-02T00:00:00Z', sentAt: '2200-01-01T00:00:00Z' }, received);
    assert.deepEqual(r, {
      ok: false,
      code: 'invalid_timestamp',
      message: 'timestamp: before 1970 after clock-skew correction (check sentAt)',
    });
  });

  test('an unparseable value is named in the rejection', () => {
    assert.deepEqual(resolveTimestamps({ sentAt: 'soon' }, received), {
      ok: false,
      code: 'invalid_timestamp',
      message: 'sentAt: expected an ISO-8601 timestamp between 1970 and 2200',
    });
  });
});
