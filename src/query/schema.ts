/**
 * The query API's body: a structured JSON query, never SQL. Every object is
 * strict, so a `tenant_id` (or any other unknown field) is refused rather than
 * ignored: the tenant always comes from the credential. Free-form strings
 * (property names, event names, values) are capped and checked here and are
 * only ever bound as parameters by the compiler.
 */
import { z } from 'zod';
import { parseTimestamp, WIRE_LIMITS } from '../../schemas/wire.ts';
import { ENGINE_TIME_ZONES } from './engine-time-zones.ts';

// C0 and C1 control characters: never part of a real property or event name.
const CONTROL_RE = /[\u0000-\u001F\u007F-\u009F]/;

/** Nested properties are stored as dotted paths (`page.path`); 1024 is four levels of the ingest's 256-character keys. */
export const MAX_PROPERTY_LENGTH = 1024;
export const MAX_VALUE_LENGTH = 1024;
export const MAX_FILTERS = 20;
export const MAX_EVENTS = 50;
export const MAX_IN_VALUES = 100;
export const MAX_FUNNEL_STEPS = 10;
// Two years: enough for a year-over-year view; anything longer is an export.
export const MAX_RANGE_DAYS = 732;
// A chart with more points than pixels is unreadable: pick a coarser interval.
export const MAX_BUCKETS = 1_000;
export const MAX_FUNNEL_WINDOW_SECONDS = 90 * 86_400;

function cleanName(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !CONTROL_RE.test(s), 'must not contain control characters')
    .refine((s) => s === s.normalize('NFC'), 'must be NFC-normalised Unicode');
}

/** A property path inside `properties` (or `context`/`traits`): bound as a parameter, never spliced into SQL. */
export const PropertyName = cleanName(MAX_PROPERTY_LENGTH)
  .refine((s) => s.trim() === s, 'must not start or end with whitespace')
  .refine((s) => !s.startsWith('.') && !s.endsWith('.') && !s.includes('..'), 'must be a dotted path such as `plan` or `page.path`');

export const EventName = cleanName(WIRE_LIMITS.eventNameLength);

export const SOURCES = ['properties', 'context', 'traits'] as const;
export type Source = (typeof SOURCES)[number];

/** Built-in dimensions, each mapped to a fixed SQL expression by the compiler. */
export const FIELDS = [
  'event',
  'type',
  'user',
  'user_id',
  'anonymous_id',
  'message_id',
  'page_path',
  'page_url',
  'page_title',
  'referrer',
  'referring_domain',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;
export type Field = (typeof FIELDS)[number];

export const OPS = ['eq', 'neq', 'contains', 'not_contains', 'gt', 'gte', 'lt', 'lte', 'is_set', 'is_not_set', 'in', 'not_in'] as const;
export type Op = (typeof OPS)[number];

/**
 * Numbers are bound as Float64, and only ±2^53 round-trips exactly through
 * JSON, JavaScript and the engine's parameter parser: the embedded engine's
 * binding refuses to serialise anything larger, which once answered a 503.
 */
export const MAX_FILTER_NUMBER = Number.MAX_SAFE_INTEGER;
const FilterNumber = z
  .number()
  .finite()
  .refine((n) => Math.abs(n) <= MAX_FILTER_NUMBER, `must be between -${MAX_FILTER_NUMBER} and ${MAX_FILTER_NUMBER} (±2^53 - 1)`);

const Value = z.union([z.string().max(MAX_VALUE_LENGTH), FilterNumber, z.boolean(), z.array(z.string().max(MAX_VALUE_LENGTH)).min(1).max(MAX_IN_VALUES)]);

const PropertyRef = z.object({ property: PropertyName, source: z.enum(SOURCES).default('properties') }).strict();
const FieldRef = z.object({ field: z.enum(FIELDS) }).strict();
export const Dimension = z.union([PropertyRef, FieldRef]);
export type Dimension = z.infer<typeof Dimension>;

function checkValue(f: { op: Op; value?: unknown }, ctx: z.RefinementCtx): void {
  const v = f.value;
  const need = (ok: boolean, what: string) => {
    if (!ok) ctx.addIssue({ code: 'custom', path: ['value'], message: `operator ${f.op} needs ${what}` });
  };
  switch (f.op) {
    case 'is_set':
    case 'is_not_set':
      return need(v === undefined, 'no value');
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return need(typeof v === 'number', 'a number');
    case 'contains':
    case 'not_contains':
      return need(typeof v === 'string' && v.length > 0, 'a non-empty string');
    case 'in':
    case 'not_in':
      return need(Array.isArray(v), 'an array of strings');
    default:
      return need(v !== undefined && !Array.isArray(v), 'a string, number or boolean');
  }
}

const filterBody = { op: z.enum(OPS), value: Value.optional() };
export const Filter = z.union([
  z.object({ property: PropertyName, source: z.enum(SOURCES).default('properties'), ...filterBody }).strict().superRefine(checkValue),
  z.object({ field: z.enum(FIELDS), ...filterBody }).strict().superRefine(checkValue),
]);
export type Filter = z.infer<typeof Filter>;
export type FilterInput = z.input<typeof Filter>;

/** ISO-8601, `now`, or relative to now: `-30d`, `-24h`, `-90m`, `-12w`. */
const RELATIVE_RE = /^-(\d{1,5})([mhdw])$/;
export const TimeSpec = z
  .string()
  .max(40)
  .refine((s) => s === 'now' || RELATIVE_RE.test(s) || parseTimestamp(s) !== null, 'expected an ISO-8601 time, "now", or a relative time such as -7d, -24h');

/** Resolves a TimeSpec against `now` (pure: the caller passes the clock). */
export function resolveTime(spec: string, now: Date): Date {
  if (spec === 'now') return now;
  const m = RELATIVE_RE.exec(spec);
  if (m) {
    const unitMs = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(m[1]) * unitMs);
  }
  return new Date(parseTimestamp(spec) ?? NaN);
}

/**
 * A zone both sides know: the engine buckets the events (its own
 * system.time_zones, committed as ENGINE_TIME_ZONES) and Node's ICU draws
 * the axis. Node alone is not enough: it knows US/Pacific-New and
 * SystemV/AST4, which ClickHouse refuses to load.
 */
function knownZone(tz: string): boolean {
  if (!ENGINE_TIME_ZONES.has(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
export const TimeZone = z
  .string()
  .max(64)
  .refine((tz) => /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(tz) && knownZone(tz), 'must be an IANA time zone such as UTC or Europe/Paris');

const common = {
  from: TimeSpec.default('-7d'),
  to: TimeSpec.default('now'),
  timezone: TimeZone.default('UTC'),
  /** Only these event names (any of them); empty or absent means every event. */
  events: z.array(EventName).max(MAX_EVENTS).optional(),
  filters: z.array(Filter).max(MAX_FILTERS).default([]),
};

const Measure = z.enum(['events', 'users']).default('events');

export const TrendQuery = z
  .object({
    kind: z.literal('trend'),
    ...common,
    measure: Measure,
    interval: z.enum(['hour', 'day', 'week', 'month']).default('day'),
    breakdown: Dimension.optional(),
    /** Top-N series for a breakdown; the rest are summed into one `other` series. */
    limit: z.number().int().min(1).max(50).default(10),
  })
  .strict();

export const TopQuery = z
  .object({ kind: z.literal('top'), ...common, by: Dimension, measure: Measure, limit: z.number().int().min(1).max(100).default(10) })
  .strict();

const FunnelStep = z.object({ event: EventName, filters: z.array(Filter).max(MAX_FILTERS).default([]) }).strict();
export const FunnelQuery = z
  .object({
    kind: z.literal('funnel'),
    ...common,
    steps: z.array(FunnelStep).min(2).max(MAX_FUNNEL_STEPS),
    /** Conversion window from the first step, in seconds (default one day). */
    windowSeconds: z.number().int().min(1).max(MAX_FUNNEL_WINDOW_SECONDS).default(86_400),
    /** `strict_order`: another of the funnel's events in between breaks the chain. */
    order: z.enum(['any', 'strict']).default('any'),
  })
  .strict();

export const EventsQuery = z
  .object({
    kind: z.literal('events'),
    ...common,
    from: TimeSpec.default('-30d'),
    limit: z.number().int().min(1).max(200).default(50),
    /** The `nextCursor` of the previous page. */
    cursor: z.string().max(512).regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();

export const WarningsQuery = z
  .object({
    kind: z.literal('warnings'),
    from: TimeSpec.default('-30d'),
    to: TimeSpec.default('now'),
    source: z.enum(['all', 'warnings', 'dead_letters']).default('all'),
    limit: z.number().int().min(1).max(500).default(100),
  })
  .strict();

export const SchemaQuery = z.object({ kind: z.literal('schema'), from: TimeSpec.default('-30d'), to: TimeSpec.default('now') }).strict();

export const Query = z.discriminatedUnion('kind', [TrendQuery, TopQuery, FunnelQuery, EventsQuery, WarningsQuery, SchemaQuery]);
export type Query = z.infer<typeof Query>;
export type QueryInput = z.input<typeof Query>;
export type QueryKind = Query['kind'];
export type TrendQuery = z.infer<typeof TrendQuery>;
export type TopQuery = z.infer<typeof TopQuery>;
export type FunnelQuery = z.infer<typeof FunnelQuery>;
export type EventsQuery = z.infer<typeof EventsQuery>;
export type WarningsQuery = z.infer<typeof WarningsQuery>;
export type SchemaQuery = z.infer<typeof SchemaQuery>;
