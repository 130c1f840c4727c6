/**
 * The wire contract: Segment's HTTP Tracking API shape, shared by the server
 * and the SDKs, so an existing Segment- or RudderStack-style SDK works by
 * changing its host. The server validates every event on its own (a bad event
 * is dropped alone), so it parses the batch envelope and each event
 * separately; SDKs can use `BatchBodySchema` to check a whole request.
 *
 * JSON objects (properties, traits, context) are checked here only for being
 * objects: their contents are cleaned by the sanitiser, and zod must not
 * rebuild them (a rebuilt object would turn a `__proto__` own key into a
 * prototype change and hide it from the forbidden-key check).
 */
import { z } from 'zod';
import type { EventType, JsonObject } from './event-row.ts';

export const WIRE_LIMITS = {
  /** userId, anonymousId, groupId, previousId. */
  idLength: 256,
  messageIdLength: 128,
  /** Segment's own cap on a track event name; page/screen names are cut to it. */
  eventNameLength: 200,
} as const;

export const TIMESTAMP_FIELDS = ['timestamp', 'sentAt', 'originalTimestamp'] as const;

// Fields real Segment SDKs send that mean nothing to us: accepted so those
// SDKs work unchanged, then dropped. `receivedAt` in particular is never
// trusted; the server's clock decides it.
export const SEGMENT_DROPPED_FIELDS = ['integrations', 'channel', 'version', '_metadata', 'writeKey', 'receivedAt', 'options'] as const;

// ISO-8601 date or date-time. The fields are checked by hand because
// Date.parse quietly rolls 2020-02-30 over to March 1st.
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;
const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(2201, 0, 1) - 1;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1] as number;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** `n` ASCII digits of `s` from `at` as a number, or -1 if one is not a digit. */
function digitsAt(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The instant the fields name, or null when they name no real one within 1970–2200. */
function instant(year: number, month: number, day: number, h: number, mi: number, sec: number, ms: number, offsetMin: number): number | null {
  // Date.UTC maps years 0-99 to 1900-1999, so the year is checked first.
  if (year < 1969 || year > 2201 || month < 1 || month > 12 || day < 1) return null;
  if (day > daysInMonth(year, month)) return null;
  if (h > 23 || mi > 59 || sec > 59) return null;
  const t = Date.UTC(year, month - 1, day, h, mi, sec, ms) - offsetMin * 60_000;
  return t >= MIN_MS && t <= MAX_MS ? t : null;
}

/**
 * ISO-8601 string → epoch ms, or null when it is not a real instant within
 * 1970–2200. A date-time without an offset is read as UTC (Date.parse would
 * use the server's local zone, which differs between machines).
 */
export function parseTimestamp(s: string): number | null {
  // What every SDK sends (Date.prototype.toISOString: 2026-01-02T03:04:05.678Z), read by
  // character codes: ~10x cheaper than the regex below, and an SDK batch has a few per event.
  if (s.length === 24 && s.charCodeAt(23) === 90 && s[4] === '-' && s[7] === '-' && s[10] === 'T' && s[13] === ':' && s[16] === ':' && s[19] === '.') {
    const year = digitsAt(s, 0, 4);
    const month = digitsAt(s, 5, 2);
    const day = digitsAt(s, 8, 2);
    const h = digitsAt(s, 11, 2);
    const mi = digitsAt(s, 14, 2);
    const sec = digitsAt(s, 17, 2);
    const ms = digitsAt(s, 20, 3);
    // A field that is not all digits is left to the regex (which refuses it).
    if (year >= 0 && month >= 0 && day >= 0 && h >= 0 && mi >= 0 && sec >= 0 && ms >= 0) return instant(year, month, day, h, mi, sec, ms, 0);
  }
  const m = ISO_RE.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', off = 'Z'] = m;
  let offsetMin = 0;
  if (off !== 'Z' && off !== 'z') {
    const digits = off.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 23 || om > 59) return null;
    offsetMin = (off.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  return instant(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec), Number(frac.padEnd(3, '0').slice(0, 3)), offsetMin);
}

export const TimestampSchema = z.string().refine((s) => parseTimestamp(s) !== null, {
  error: 'expected an ISO-8601 timestamp between 1970 and 2200',
});

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const JsonObjectSchema = z.custom<JsonObject>(isJsonObject, { error: 'expected a JSON object' });

// Segment accepts numeric ids; we store every id as a string.
export const IdSchema = z
  .union([z.string(), z.number()], { error: 'expected a string or a finite number' })
  .transform((v) => (typeof v === 'number' ? String(v) : v))
  .pipe(z.string().min(1).max(WIRE_LIMITS.idLength));

const dropped = {
  integrations: z.unknown().optional(),
  channel: z.unknown().optional(),
  version: z.unknown().optional(),
  _metadata: z.unknown().optional(),
  writeKey: z.unknown().optional(),
  receivedAt: z.unknown().optional(),
  options: z.unknown().optional(),
};

// `null` is accepted wherever a field is optional: analytics-python sends
// `"userId": null` for anonymous events, for example.
const common = {
  messageId: z.string().min(1).max(WIRE_LIMITS.messageIdLength).nullish(),
  userId: IdSchema.nullish(),
  anonymousId: IdSchema.nullish(),
  context: JsonObjectSchema.nullish(),
  traits: JsonObjectSchema.nullish(),
  timestamp: TimestampSchema.nullish(),
  sentAt: TimestampSchema.nullish(),
  originalTimestamp: TimestampSchema.nullish(),
  ...dropped,
};

const hasIdentity = (e: { userId?: string | null; anonymousId?: string | null }): boolean =>
  (e.userId ?? e.anonymousId) != null;
const identityRequired = { error: 'userId or anonymousId is required', path: ['userId'] };

const pageLike = {
  name: z.string().nullish(),
  // Segment's page(category, name) still sends it; we keep it as properties.category.
  category: z.string().nullish(),
  properties: JsonObjectSchema.nullish(),
  ...common,
};

export const TrackEventSchema = z
  .strictObject({
    type: z.literal('track'),
    event: z.string().min(1).max(WIRE_LIMITS.eventNameLength),
    properties: JsonObjectSchema.nullish(),
    ...common,
  })
  .refine(hasIdentity, identityRequired);

export const PageEventSchema = z.strictObject({ type: z.literal('page'), ...pageLike }).refine(hasIdentity, identityRequired);

export const ScreenEventSchema = z.strictObject({ type: z.literal('screen'), ...pageLike }).refine(hasIdentity, identityRequired);

export const IdentifyEventSchema = z.strictObject({ type: z.literal('identify'), ...common }).refine(hasIdentity, identityRequired);

export const GroupEventSchema = z
  .strictObject({ type: z.literal('group'), groupId: IdSchema, ...common })
  .refine(hasIdentity, identityRequired);

export const AliasEventSchema = z.strictObject({
  type: z.literal('alias'),
  ...common,
  previousId: IdSchema,
  userId: IdSchema,
});

export const WireEventSchema = z.discriminatedUnion('type', [
  TrackEventSchema,
  PageEventSchema,
  ScreenEventSchema,
  IdentifyEventSchema,
  GroupEventSchema,
  AliasEventSchema,
]);

export const WIRE_EVENT_SCHEMAS = {
  track: TrackEventSchema,
  page: PageEventSchema,
  screen: ScreenEventSchema,
  identify: IdentifyEventSchema,
  group: GroupEventSchema,
  alias: AliasEventSchema,
} as const satisfies Record<EventType, z.ZodType>;

/** What the server parses: the envelope, with each event validated on its own. */
export const BatchEnvelopeSchema = z.strictObject({
  batch: z.array(z.unknown()).min(1),
  sentAt: TimestampSchema.nullish(),
  context: JsonObjectSchema.nullish(),
  // Older analytics-node sends a batch-level `timestamp`; the events carry their own.
  timestamp: z.unknown().optional(),
  ...dropped,
});

/** A whole valid request, for SDKs checking what they are about to send. */
export const BatchBodySchema = BatchEnvelopeSchema.extend({ batch: z.array(WireEventSchema).min(1) });

export type TrackEvent = z.infer<typeof TrackEventSchema>;
export type PageEvent = z.infer<typeof PageEventSchema>;
export type ScreenEvent = z.infer<typeof ScreenEventSchema>;
export type IdentifyEvent = z.infer<typeof IdentifyEventSchema>;
export type GroupEvent = z.infer<typeof GroupEventSchema>;
export type AliasEvent = z.infer<typeof AliasEventSchema>;
export type WireEvent = z.infer<typeof WireEventSchema>;
/** What an SDK may send (ids may still be numbers). */
export type WireEventInput = z.input<typeof WireEventSchema>;
export type BatchEnvelope = z.infer<typeof BatchEnvelopeSchema>;
export type BatchBody = z.infer<typeof BatchBodySchema>;
export type BatchBodyInput = z.input<typeof BatchBodySchema>;
