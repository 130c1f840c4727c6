/**
 * The one function that turns a query into SQL. Pure: (query, tenant, clock)
 * in, `{ sql, params }` out. Three rules hold for every output, and the
 * property test in compile.property.test.ts checks them for any query the
 * schema accepts:
 *   - every table is read as `FROM <table> WHERE tenant_id = {tenant:String}`,
 *     with the tenant taken from the credential, never from the query;
 *   - no string from the query appears in `sql`: names and values are bound
 *     as `{pN:Type}` parameters, and enums select constant fragments;
 *   - every count counts a message id once (ReplacingMergeTree may still hold
 *     a retried copy that has not been merged away).
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { decodeCursor } from './cursor.ts';
import type { EventsQuery, FunnelQuery, Query, SchemaQuery, TopQuery, TrendQuery, WarningsQuery } from './schema.ts';
import { ACTOR_SQL, Binder, bucketSql, dimensionSql, filterSql, fromTenant, measureSql } from './sql.ts';
import { checkBuckets, resolveRange, type Range } from './time.ts';

export interface CompiledQuery {
  sql: string;
  params: Record<string, unknown>;
}

export interface Scope {
  /** From the authenticated principal; the only tenant a query can read. */
  tenantId: string;
  now: Date;
}

// Caps on what a schema listing returns: enough for any picker, small enough to ship.
export const SCHEMA_MAX_EVENTS = 500;
export const SCHEMA_MAX_PROPERTIES = 1_000;
/** Dead letters carry the whole event; the API shows its first 4 KB. */
export const DEAD_LETTER_PREVIEW = 4_096;

function timeConditions(r: Range, b: Binder, column = 'timestamp'): string[] {
  return [`${column} >= ${b.bind(toClickHouseTime(r.from), "DateTime64(3, 'UTC')")}`, `${column} < ${b.bind(toClickHouseTime(r.to), "DateTime64(3, 'UTC')")}`];
}

/** Time range, event names and filters: the WHERE of every events query. */
function eventConditions(q: { events?: string[]; filters: TrendQuery['filters'] }, r: Range, b: Binder): string[] {
  const out = timeConditions(r, b);
  if (q.events && q.events.length > 0) out.push(`event IN ${b.bind(q.events, 'Array(String)')}`);
  for (const f of q.filters) out.push(filterSql(f, b));
  return out;
}

function trend(q: TrendQuery, r: Range, b: Binder): string {
  checkBuckets(q.interval, r);
  const bucket = bucketSql(q.interval, b.bind(q.timezone, 'String'));
  const measure = measureSql(q.measure);
  const where = eventConditions(q, r, b);
  if (!q.breakdown) {
    return `SELECT ${bucket} AS bucket, ${measure} AS value, grouping(bucket) AS total_row
${fromTenant('events', where)}
GROUP BY GROUPING SETS ((bucket), ())
ORDER BY total_row DESC, bucket`;
  }
  const key = dimensionSql(q.breakdown, b);
  // Top-N keys over the whole range; everything else is one `other` series.
  // tuple() keeps a NULL key (property not set), which groupArray would skip.
  return `WITH (
  SELECT groupArray(tuple(k)) FROM (
    SELECT ${key} AS k
    ${fromTenant('events', where)}
    GROUP BY k ORDER BY ${measure} DESC, k LIMIT ${b.bind(q.limit, 'UInt32')}
  )
) AS top_keys
SELECT ${bucket} AS bucket, NOT has(top_keys, tuple(${key})) AS other, if(other, NULL, ${key}) AS series,
  ${measure} AS value, grouping(bucket) AS total_row, grouping(series) AS grand_total
${fromTenant('events', where)}
GROUP BY GROUPING SETS ((bucket, other, series), (other, series), ())
ORDER BY total_row DESC, grand_total DESC, bucket, other, series`;
}

function top(q: TopQuery, r: Range, b: Binder): string {
  const value = dimensionSql(q.by, b);
  const where = [...eventConditions(q, r, b), `isNotNull(${value})`];
  // The () grouping set is the total over every value, for shares.
  return `SELECT ${value} AS value, ${measureSql(q.measure)} AS count, grouping(value) AS total_row
${fromTenant('events', where)}
GROUP BY GROUPING SETS ((value), ())
ORDER BY total_row DESC, count DESC, value
LIMIT ${b.bind(q.limit + 1, 'UInt32')}`;
}

function funnel(q: FunnelQuery, r: Range, b: Binder): string {
  const where = [...eventConditions(q, r, b), `event IN ${b.bind([...new Set(q.steps.map((s) => s.event))], 'Array(String)')}`];
  const steps = q.steps.map((s) => [`event = ${b.bind(s.event, 'String')}`, ...s.filters.map((f) => filterSql(f, b))].join(' AND '));
  const mode = q.order === 'strict' ? `, 'strict_order'` : '';
  // windowFunnel takes DateTime (seconds), not DateTime64.
  return `SELECT level, count() AS actors FROM (
  SELECT ${ACTOR_SQL} AS actor,
    windowFunnel(${b.bind(q.windowSeconds, 'UInt64')}${mode})(toDateTime(timestamp), ${steps.map((s) => `(${s})`).join(', ')}) AS level
  ${fromTenant('events', where)}
  GROUP BY actor
)
GROUP BY level ORDER BY level`;
}

function events(q: EventsQuery, r: Range, b: Binder, tenantId: string): string {
  const where = eventConditions(q, r, b);
  if (q.cursor) {
    const at = decodeCursor(q.cursor, tenantId);
    where.push(`(timestamp, message_id) < (${b.bind(at.ts, "DateTime64(3, 'UTC')")}, ${b.bind(at.messageId, 'String')})`);
  }
  // Aliases avoid the column names: ClickHouse lets an alias shadow a column in WHERE.
  // LIMIT 1 BY message_id shows a not-yet-merged retried copy once; one extra row says whether there is a next page.
  return `SELECT message_id, toString(type) AS event_type, event, user_id, anonymous_id,
  toString(timestamp) AS ts, toString(received_at) AS received, properties, context, traits
${fromTenant('events', where)}
ORDER BY timestamp DESC, message_id DESC
LIMIT 1 BY message_id
LIMIT ${b.bind(q.limit + 1, 'UInt32')}`;
}

function warnings(q: WarningsQuery, r: Range, b: Binder): string {
  const parts: string[] = [];
  if (q.source !== 'dead_letters') {
    parts.push(`SELECT 'warning' AS source, at, toString(at) AS at_text, message_id, toString(code) AS code, message,
    request_id, key_id, batch_index, '' AS row_preview
  ${fromTenant('ingestion_warnings', timeConditions(r, b, 'at'))}`);
  }
  if (q.source !== 'warnings') {
    parts.push(`SELECT 'dead_letter' AS source, at, toString(at) AS at_text, message_id,
    if(reason IN ('guard_violation', 'undecodable_payload'), reason, 'rejected_by_database') AS code, reason AS message,
    '' AS request_id, '' AS key_id, toUInt32(0) AS batch_index, substring(row, 1, ${DEAD_LETTER_PREVIEW}) AS row_preview
  ${fromTenant('dead_letters', timeConditions(r, b, 'at'))}`);
  }
  return `SELECT source, at_text, message_id, code, message, request_id, key_id, batch_index, row_preview FROM (
  ${parts.join('\n  UNION ALL\n  ')}
)
ORDER BY at DESC, source, message_id
LIMIT ${b.bind(q.limit, 'UInt32')}`;
}

function schema(_q: SchemaQuery, r: Range, b: Binder): string {
  const where = timeConditions(r, b);
  return `SELECT kind, name, n FROM (
  SELECT 'event' AS kind, event AS name, uniqExact(message_id) AS n
  ${fromTenant('events', [...where, `event != ''`])}
  GROUP BY name ORDER BY n DESC, name LIMIT ${SCHEMA_MAX_EVENTS}
)
UNION ALL
SELECT kind, name, n FROM (
  SELECT 'property' AS kind, path AS name, uniqExact(message_id) AS n FROM (
    SELECT message_id, JSONAllPaths(properties) AS paths
    ${fromTenant('events', where)}
  ) ARRAY JOIN paths AS path
  GROUP BY name ORDER BY n DESC, name LIMIT ${SCHEMA_MAX_PROPERTIES}
)`;
}

/** Query (already validated by the schema) → SQL and its parameters. Throws AppError for a range it refuses. */
export function compile(q: Query, scope: Scope): CompiledQuery {
  const b = new Binder(scope.tenantId);
  const r = resolveRange(q, scope.now);
  let sql: string;
  switch (q.kind) {
    case 'trend':
      sql = trend(q, r, b);
      break;
    case 'top':
      sql = top(q, r, b);
      break;
    case 'funnel':
      sql = funnel(q, r, b);
      break;
    case 'events':
      sql = events(q, r, b, scope.tenantId);
      break;
    case 'warnings':
      sql = warnings(q, r, b);
      break;
    case 'schema':
      sql = schema(q, r, b);
      break;
  }
  return { sql, params: b.params };
}
