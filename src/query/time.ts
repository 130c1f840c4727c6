/**
 * Time ranges and the bucket axis of a trend. ClickHouse returns only the
 * buckets that have events; the API returns every bucket of the range (zeros
 * included) so a chart's x axis is the range the user asked for. The labels
 * here are exactly what the compiler's bucket expressions print:
 *   hour  toString(toStartOfHour(ts, tz))   2026-11-24 13:00:00
 *   day   toString(toDate(ts, tz))          2026-11-24
 *   week  toString(toMonday(ts, tz))        2026-11-23
 *   month toString(toStartOfMonth(ts, tz))  2026-11-01
 */
import { AppError, ErrorCode } from '../errors/index.ts';
import { MAX_BUCKETS, MAX_RANGE_DAYS, resolveTime } from './schema.ts';

export type Interval = 'hour' | 'day' | 'week' | 'month';
const DAY_MS = 86_400_000;

export interface Range {
  from: Date;
  to: Date;
}

export function resolveRange(spec: { from: string; to: string }, now: Date): Range {
  const from = resolveTime(spec.from, now);
  const to = resolveTime(spec.to, now);
  if (!(from.getTime() < to.getTime())) throw new AppError(ErrorCode.INVALID_QUERY, 'from must be before to');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
    throw new AppError(ErrorCode.INVALID_QUERY, `the time range may span at most ${MAX_RANGE_DAYS} days`);
  }
  return { from, to };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock date and hour of an instant in a time zone. */
function local(d: Date, tz: string): { y: number; m: number; d: number; h: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
  return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day), h: Number(parts.hour) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const dateLabel = (t: number) => {
  const d = new Date(t);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
};

/** Rough count, to refuse an hourly chart over a year before building it. */
export function estimateBuckets(interval: Interval, r: Range): number {
  const days = (r.to.getTime() - r.from.getTime()) / DAY_MS;
  return Math.ceil({ hour: days * 24, day: days, week: days / 7, month: days / 28 }[interval]) + 1;
}

export function checkBuckets(interval: Interval, r: Range): void {
  if (estimateBuckets(interval, r) > MAX_BUCKETS + 2) {
    throw new AppError(ErrorCode.INVALID_QUERY, `this range has more than ${MAX_BUCKETS} ${interval}s; choose a coarser interval or a shorter range`);
  }
}

/** Every bucket label of [from, to) in `tz`, oldest first. */
export function bucketAxis(interval: Interval, r: Range, tz: string): string[] {
  const last = new Date(r.to.getTime() - 1);
  if (interval === 'hour') {
    const out: string[] = [];
    // 15-minute steps: zones with :30 and :45 offsets still hit every local hour.
    const step = 15 * 60_000;
    let t = Math.floor(r.from.getTime() / step) * step;
    for (; t <= last.getTime(); t += step) {
      const l = local(new Date(Math.max(t, r.from.getTime())), tz);
      const label = `${pad(l.y, 4)}-${pad(l.m)}-${pad(l.d)} ${pad(l.h)}:00:00`;
      if (out[out.length - 1] !== label) out.push(label);
    }
    return out;
  }
  const a = local(r.from, tz);
  const b = local(last, tz);
  let start = Date.UTC(a.y, a.m - 1, a.d);
  const end = Date.UTC(b.y, b.m - 1, b.d);
  if (interval === 'week') start -= ((new Date(start).getUTCDay() + 6) % 7) * DAY_MS;
  if (interval === 'month') start = Date.UTC(a.y, a.m - 1, 1);
  const out: string[] = [];
  for (let t = start; t <= end; ) {
    out.push(dateLabel(t));
    if (interval === 'month') {
      const d = new Date(t);
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    } else {
      t += interval === 'week' ? 7 * DAY_MS : DAY_MS;
    }
  }
  return out;
}
