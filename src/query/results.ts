/**
 * Rows from ClickHouse → the API's response for each kind. A response holds
 * the tenant's data and our own words only: it never echoes a name or value
 * from the request (the caller has its request), so a response can be
 * checked for foreign data by looking for it, with no echo to explain away. A trend comes back
 * with every bucket of the range (zeros included) and per-series totals; a
 * top list with shares; a funnel with per-step conversion.
 */
import { encodeCursor } from './cursor.ts';
import type { EventsQuery, FunnelQuery, Query, TopQuery, TrendQuery } from './schema.ts';
import { bucketAxis, resolveRange } from './time.ts';

type Row = Record<string, unknown>;

/** ClickHouse may print a UInt64 as a string (output_format_json_quote_64bit_integers). */
const num = (v: unknown) => Number(v ?? 0);
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
/** `2026-11-24 10:00:00.123` → `2026-11-24T10:00:00.123Z`. */
const iso = (v: unknown) => `${String(v).replace(' ', 'T')}Z`;

export interface Series {
  /** The breakdown value; null means "not set" (or no breakdown). */
  key: string | null;
  total: number;
  values: number[];
}

export interface TrendResult {
  kind: 'trend';
  measure: TrendQuery['measure'];
  interval: TrendQuery['interval'];
  timezone: string;
  from: string;
  to: string;
  buckets: string[];
  total: number;
  series: Series[];
  /** Everything outside the top-N breakdown values, summed; null without a breakdown or when nothing is left over. */
  other: Omit<Series, 'key'> | null;
}

function trend(q: TrendQuery, rows: Row[], now: Date): TrendResult {
  const range = resolveRange(q, now);
  const buckets = bucketAxis(q.interval, range, q.timezone);
  const index = new Map(buckets.map((b, i) => [b, i]));
  const series = new Map<string, Series>();
  let other: Series | null = null;
  let total = 0;
  const seriesFor = (row: Row): Series => {
    if (q.breakdown && num(row.other) === 1) return (other ??= { key: null, total: 0, values: buckets.map(() => 0) });
    const key = q.breakdown ? str(row.series) : null;
    const id = JSON.stringify(key);
    let s = series.get(id);
    if (!s) series.set(id, (s = { key, total: 0, values: buckets.map(() => 0) }));
    return s;
  };
  for (const row of rows) {
    const value = num(row.value);
    if (num(row.total_row) === 0) {
      const i = index.get(String(row.bucket));
      if (i !== undefined) seriesFor(row).values[i] = value;
    } else if (!q.breakdown || num(row.grand_total) === 1) {
      total = value;
    } else {
      seriesFor(row).total = value;
    }
  }
  if (!q.breakdown && series.size === 0) series.set('null', { key: null, total: 0, values: buckets.map(() => 0) });
  if (!q.breakdown) for (const s of series.values()) s.total = total;
  const list = [...series.values()].sort((a, b) => b.total - a.total || String(a.key).localeCompare(String(b.key)));
  const rest = other as Series | null;
  return {
    kind: 'trend',
    measure: q.measure,
    interval: q.interval,
    timezone: q.timezone,
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    buckets,
    total,
    series: list,
    other: rest ? { total: rest.total, values: rest.values } : null,
  };
}

function top(q: TopQuery, rows: Row[]) {
  const totalRow = rows.find((r) => num(r.total_row) === 1);
  const total = num(totalRow?.count);
  const list = rows
    .filter((r) => num(r.total_row) === 0)
    .slice(0, q.limit)
    .map((r) => ({ value: String(r.value), count: num(r.count), share: total > 0 ? num(r.count) / total : 0 }));
  return { kind: 'top' as const, measure: q.measure, total, rows: list };
}

function funnel(q: FunnelQuery, rows: Row[]) {
  const atLevel = new Map(rows.map((r) => [num(r.level), num(r.actors)]));
  const reached = q.steps.map((_, i) => {
    let n = 0;
    for (const [level, actors] of atLevel) if (level >= i + 1) n += actors;
    return n;
  });
  const first = reached[0] ?? 0;
  return {
    kind: 'funnel' as const,
    windowSeconds: q.windowSeconds,
    order: q.order,
    steps: q.steps.map((_, i) => {
      const count = reached[i] ?? 0;
      const previous = i === 0 ? count : (reached[i - 1] ?? 0);
      return {
        step: i + 1,
        count,
        conversion: first > 0 ? count / first : 0,
        stepConversion: previous > 0 ? count / previous : 0,
        dropOff: previous - count,
      };
    }),
  };
}

function events(q: EventsQuery, rows: Row[], tenantId: string) {
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    kind: 'events' as const,
    events: page.map((r) => ({
      messageId: String(r.message_id),
      type: String(r.event_type),
      event: String(r.event),
      userId: String(r.user_id),
      anonymousId: String(r.anonymous_id),
      timestamp: iso(r.ts),
      receivedAt: iso(r.received),
      properties: r.properties ?? {},
      context: r.context ?? {},
      traits: r.traits ?? {},
    })),
    nextCursor: rows.length > q.limit && last ? encodeCursor({ ts: String(last.ts), messageId: String(last.message_id) }, tenantId) : null,
  };
}

function warnings(rows: Row[]) {
  return {
    kind: 'warnings' as const,
    items: rows.map((r) => ({
      source: String(r.source),
      at: iso(r.at_text),
      messageId: String(r.message_id),
      code: String(r.code),
      message: String(r.message),
      ...(r.source === 'warning'
        ? { requestId: String(r.request_id), keyId: String(r.key_id), index: num(r.batch_index) }
        : { row: String(r.row_preview) }),
    })),
  };
}

function schema(rows: Row[]) {
  const pick = (kind: string) => rows.filter((r) => r.kind === kind).map((r) => ({ name: String(r.name), count: num(r.n) }));
  return { kind: 'schema' as const, events: pick('event'), properties: pick('property') };
}

export type QueryResult =
  | TrendResult
  | ReturnType<typeof top>
  | ReturnType<typeof funnel>
  | ReturnType<typeof events>
  | ReturnType<typeof warnings>
  | ReturnType<typeof schema>;

export function shape(q: Query, rows: Row[], scope: { tenantId: string; now: Date }): QueryResult {
  switch (q.kind) {
    case 'trend':
      return trend(q, rows, scope.now);
    case 'top':
      return top(q, rows);
    case 'funnel':
      return funnel(q, rows);
    case 'events':
      return events(q, rows, scope.tenantId);
    case 'warnings':
      return warnings(rows);
    case 'schema':
      return schema(rows);
  }
}
