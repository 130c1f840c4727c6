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

/**
 * ISO-8601 string → epoch ms, or null when it is not a real instant within
 * 1970–2200. A date-time without an offset is read as UTC (Date.parse would
 * use the server's local zone, which differs between machines).
 */
export function parseTimestamp(s: string): number | null {
  const m = ISO_RE.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', off = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.UTC maps years 0-99 to 1900-1999, so the year is checked first.
  if (year < 1969 || year > 2201 || month < 1 || month > 12 || day < 1) return null;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return null;
  let offsetMin = 0;
  if (off !== 'Z' && off !== 'z') {
    const digits = off.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 23 || om > 59) return null;
    offsetMin = (off.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const t = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(sec), ms) - offsetMin * 60_000;
  return t >= MIN_MS && t <= MAX_MS ? t : null;
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
