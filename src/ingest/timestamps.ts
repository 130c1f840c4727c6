/**
 * Clock-skew correction, Segment's rule: a device clock can be hours off, but
 * the gap between the device's `sentAt` and our `receivedAt` measures that
 * error (plus network time, which is small), so it is added to the event's
 * own timestamp. Without a `sentAt` the device time is used as it is.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { parseTimestamp } from '../../schemas/wire.ts';
import { fail, ok, RejectionCode, type Result } from './result.ts';

// Events may be queued offline and replayed later, so the past is open; a
// time more than a day ahead of our clock is a broken device clock, and left
// alone it would sit at the top of every "latest events" view for years.
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;
// ClickHouse DateTime64 starts in 1900, but nothing real happened before the
// epoch and a result that early means a wildly wrong sentAt.
const MIN_MS = Date.UTC(1970, 0, 1);

export interface ClientTimes {
  timestamp?: string | null;
  originalTimestamp?: string | null;
  /** The event's sentAt, else the batch's. */
  sentAt?: string | null;
}

export interface RowTimes {
  timestamp: string;
  original_timestamp: string | null;
  sent_at: string | null;
  received_at: string;
}

function parseField(value: string | null | undefined, field: string): Result<number | null> {
  if (value == null) return ok(null);
  const t = parseTimestamp(value);
  return t === null
    ? fail(RejectionCode.INVALID_TIMESTAMP, `${field}: expected an ISO-8601 timestamp between 1970 and 2200`)
    : ok(t);
}

export function resolveTimestamps(times: ClientTimes, receivedAt: Date): Result<RowTimes> {
  const ts = parseField(times.timestamp, 'timestamp');
  if (!ts.ok) return ts;
  const original = parseField(times.originalTimestamp, 'originalTimestamp');
  if (!original.ok) return original;
  const sent = parseField(times.sentAt, 'sentAt');
  if (!sent.ok) return sent;

  const received = receivedAt.getTime();
  // The device's own time for the event, as sent: `timestamp` if given, else
  // `originalTimestamp` (what RudderStack-style SDKs send).
  const client = ts.value ?? original.value;
  let corrected = client ?? received;
  if (client !== null && sent.value !== null) corrected = client + (received - sent.value);
  if (corrected > received + MAX_FUTURE_SKEW_MS) corrected = received;
  if (corrected < MIN_MS) {
    return fail(RejectionCode.INVALID_TIMESTAMP, 'timestamp: before 1970 after clock-skew correction (check sentAt)');
  }
  return ok({
    timestamp: toClickHouseTime(new Date(corrected)),
    original_timestamp: client === null ? null : toClickHouseTime(new Date(client)),
    sent_at: sent.value === null ? null : toClickHouseTime(new Date(sent.value)),
    received_at: toClickHouseTime(receivedAt),
  });
}
