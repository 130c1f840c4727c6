/**
 * The pieces the compiler assembles. Every SQL fragment here is a constant
 * chosen by an enum; every value that came from a request goes through
 * `Binder.bind` and appears in the SQL only as a `{pN:Type}` placeholder.
 */
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Dimension, Field, Filter, Source } from './schema.ts';

/** The one tenant parameter; no user parameter can take this name (they are p0, p1, …). */
export const TENANT_PARAM = 'tenant';
export const TENANT_FILTER = `tenant_id = {${TENANT_PARAM}:String}`;

export type ParamType = 'String' | 'Float64' | 'UInt32' | 'UInt64' | 'Array(String)' | "DateTime64(3, 'UTC')";

export class Binder {
  readonly params: Record<string, unknown>;
  private n = 0;

  constructor(tenantId: string) {
    this.params = { [TENANT_PARAM]: tenantId };
  }

  bind(value: unknown, type: ParamType): string {
    // The schema refuses these already; a value the engine cannot take exactly must never reach it.
    if (typeof value === 'number' && !(Math.abs(value) <= Number.MAX_SAFE_INTEGER)) {
      throw new AppError(ErrorCode.INVALID_QUERY, 'numbers must be between -(2^53 - 1) and 2^53 - 1');
    }
    const name = `p${this.n++}`;
    this.params[name] = value;
    return `{${name}:${type}}`;
  }
}

export type Table = 'events' | 'ingestion_warnings' | 'dead_letters';

/** The only way the compiler names a table: always followed by the tenant filter. */
export function fromTenant(table: Table, conditions: readonly string[]): string {
  return [`FROM ${table} WHERE ${TENANT_FILTER}`, ...conditions].join('\n  AND ');
}

/** A constant JSON path as a Nullable(String): NULL when unset, empty strings count as unset. */
function text(path: string): string {
  return `if(isNull(${path}), NULL, nullIf(toString(${path}), ''))`;
}

/** The first of several constant JSON paths that is set. */
function firstOf(...paths: string[]): string {
  return `multiIf(${paths.map((p) => `isNotNull(${p}), nullIf(toString(${p}), '')`).join(', ')}, NULL)`;
}

const PAGE_URL = firstOf('properties.url', 'context.page.url');
const REFERRER = firstOf('properties.referrer', 'context.page.referrer');

/** Segment's analytics.js puts UTM tags in context.campaign (utm_campaign as `name`); otherwise read the page URL. */
function utm(tag: string, campaignKey: string): string {
  return `multiIf(isNotNull(context.campaign.${campaignKey}), nullIf(toString(context.campaign.${campaignKey}), ''), nullIf(extractURLParameter(ifNull(${PAGE_URL}, ''), '${tag}'), ''))`;
}

/** Built-in dimensions as Nullable(String) expressions. */
export const FIELD_SQL: Record<Field, string> = {
  event: `nullIf(event, '')`,
  type: `toString(type)`,
  user: `nullIf(if(user_id != '', user_id, anonymous_id), '')`,
  user_id: `nullIf(user_id, '')`,
  anonymous_id: `nullIf(anonymous_id, '')`,
  message_id: `message_id`,
  page_path: firstOf('properties.path', 'context.page.path'),
  page_url: PAGE_URL,
  page_title: firstOf('properties.title', 'context.page.title'),
  referrer: REFERRER,
  referring_domain: `nullIf(domainWithoutWWW(ifNull(${REFERRER}, '')), '')`,
  utm_source: utm('utm_source', 'source'),
  utm_medium: utm('utm_medium', 'medium'),
  utm_campaign: utm('utm_campaign', 'name'),
  utm_term: utm('utm_term', 'term'),
  utm_content: utm('utm_content', 'content'),
};

const SOURCE_COLUMN: Record<Source, string> = { properties: 'properties', context: 'context', traits: 'traits' };

/** A dimension as a Nullable(String) expression; a property path is bound, never spliced. */
export function dimensionSql(d: Dimension, b: Binder): string {
  if ('field' in d) return FIELD_SQL[d.field];
  const sub = `getSubcolumn(${SOURCE_COLUMN[d.source]}, ${b.bind(d.property, 'String')})`;
  return `if(isNull(${sub}), NULL, toString(${sub}))`;
}

/**
 * A filter as a UInt8 condition (windowFunnel needs UInt8, not Nullable).
 * Negative operators match events where the property is not set, as
 * analytics users expect ("plan is not pro" includes events with no plan).
 */
export function filterSql(f: Filter, b: Binder): string {
  const s = dimensionSql('field' in f ? { field: f.field } : { property: f.property, source: f.source }, b);
  const v = f.value;
  const eq = () => (typeof v === 'number' ? `toFloat64OrNull(${s}) = ${b.bind(v, 'Float64')}` : `${s} = ${b.bind(String(v), 'String')}`);
  switch (f.op) {
    case 'eq':
      return `ifNull(${eq()}, 0)`;
    case 'neq':
      return `ifNull(NOT (${eq()}), 1)`;
    case 'contains':
      return `ifNull(positionCaseInsensitiveUTF8(${s}, ${b.bind(v, 'String')}) > 0, 0)`;
    case 'not_contains':
      return `ifNull(positionCaseInsensitiveUTF8(${s}, ${b.bind(v, 'String')}) = 0, 1)`;
    case 'gt':
      return `ifNull(toFloat64OrNull(${s}) > ${b.bind(v, 'Float64')}, 0)`;
    case 'gte':
      return `ifNull(toFloat64OrNull(${s}) >= ${b.bind(v, 'Float64')}, 0)`;
    case 'lt':
      return `ifNull(toFloat64OrNull(${s}) < ${b.bind(v, 'Float64')}, 0)`;
    case 'lte':
      return `ifNull(toFloat64OrNull(${s}) <= ${b.bind(v, 'Float64')}, 0)`;
    case 'is_set':
      return `isNotNull(${s})`;
    case 'is_not_set':
      return `isNull(${s})`;
    case 'in':
      return `ifNull(${s} IN ${b.bind(v, 'Array(String)')}, 0)`;
    case 'not_in':
      return `ifNull(${s} NOT IN ${b.bind(v, 'Array(String)')}, 1)`;
  }
}

export const ACTOR_SQL = `if(user_id != '', user_id, anonymous_id)`;

/** Every count is of distinct message ids: an event counts once even before ReplacingMergeTree folds a retried copy. */
export function measureSql(measure: 'events' | 'users'): string {
  return measure === 'events' ? 'uniqExact(message_id)' : `uniqExact(${ACTOR_SQL})`;
}

export function bucketSql(interval: 'hour' | 'day' | 'week' | 'month', tz: string): string {
  const fn = { hour: 'toStartOfHour', day: 'toDate', week: 'toMonday', month: 'toStartOfMonth' }[interval];
  return `toString(${fn}(timestamp, ${tz}))`;
}
