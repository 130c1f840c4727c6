/**
 * One row of the `events` table as the ingest pipeline produces it and the
 * storage writer inserts it (JSONEachRow). Timestamps are UTC strings in
 * ClickHouse's `YYYY-MM-DD hh:mm:ss.sss` form, which every ClickHouse input
 * format parses the same way.
 */
export const EVENT_TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface EventRow {
  tenant_id: string;
  message_id: string;
  type: EventType;
  /** track: the event name; page/screen: the page or screen name; otherwise empty. */
  event: string;
  user_id: string;
  anonymous_id: string;
  group_id: string;
  previous_id: string;
  timestamp: string;
  original_timestamp: string | null;
  sent_at: string | null;
  received_at: string;
  properties: JsonObject;
  traits: JsonObject;
  context: JsonObject;
  ip: string;
  user_agent: string;
  key_id: string;
  /** 1 when the user agent is a known bot (isbot); absent in rows written before migration 0007 (DEFAULT 0). */
  is_bot?: 0 | 1;
}

// The last times converted, four: a row has four time columns, and an event's received_at
// and sent_at are its request's (most events of a batch share them). With one slot, an
// event sent with its own timestamp and sentAt (every Segment and RudderStack SDK) made
// its four columns evict each other, and every call converted.
const SLOTS = 4;
const slotMs: number[] = new Array<number>(SLOTS).fill(Number.NaN);
const slotText: string[] = new Array<string>(SLOTS).fill('');
let nextSlot = 0;

/** Date → `2026-11-24 10:00:00.123` (UTC). */
export function toClickHouseTime(d: Date): string {
  const ms = d.getTime();
  for (let i = 0; i < SLOTS; i++) if (slotMs[i] === ms) return slotText[i] as string;
  const iso = d.toISOString();
  // Slices, not two replace() calls: this runs several times per event on the ingest path.
  // Years outside 0000-9999 have a longer ISO form; they keep the old transformation.
  const text = iso.length !== 24 ? iso.replace('T', ' ').replace('Z', '') : iso.slice(0, 10) + ' ' + iso.slice(11, 23);
  slotMs[nextSlot] = ms;
  slotText[nextSlot] = text;
  nextSlot = (nextSlot + 1) % SLOTS;
  return text;
}

export const CLICKHOUSE_TIME_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/;
