/**
 * Runs a tenant's query: validate (zod, strict) → compile (tenant from the
 * credential) → run under the node's query limits → shape. The limits keep
 * one tenant's heavy query from taking the node down: the engine stops a
 * query that reads, returns, spends or takes too much (readonly, rows to
 * read, result rows and bytes, memory, threads, time), and a small queue
 * bounds how many queries run at once, overall and per tenant, so the
 * flusher always finds a free chDB connection. A tenant's `query` setting
 * (src/query/caps.ts) lowers its own time, rows-to-read and concurrency
 * limits and may add a queries-per-minute token bucket; it is read from the
 * in-memory key table on each call, so a change needs no restart and no I/O.
 */
import type { QueryCaps } from '../../schemas/tenant-settings.ts';
import type { Principal } from '../auth/authenticator.ts';
import { AppError, ErrorCode, isAppError } from '../errors/index.ts';
import { TokenBuckets, type BucketPolicy } from '../limits/token-bucket.ts';
import { WarehouseError, type Settings, type Warehouse } from '../storage/warehouse.ts';
import { tenantLimits, type TenantQueryLimits } from './caps.ts';
import { EnginePriority } from './engine-priority.ts';
import { FairScheduler, type Lane } from './fair-scheduler.ts';
import type { QueryLimits } from '../config/index.ts';
import { compile } from './compile.ts';
import { shape, type QueryResult } from './results.ts';
import { Query, type QueryKind } from './schema.ts';

export type { QueryLimits };


/** One tenant read opened by QueryService.openRead. */
export interface TenantRead {
  /** Reads only; every statement is fairly scheduled and capped. */
  warehouse: Warehouse;
  limits: TenantQueryLimits;
  release: () => void;
}

export interface QueryOutcome {
  kind: QueryKind;
  result: QueryResult;
  /** Rows the engine returned (before shaping): what an audit line records. */
  rows: number;
  durationMs: number;
}

// The engine's own stop (max_execution_time) must come first so the caller
// gets query_timeout, not a client-side timeout that leaves the query running.
const CLIENT_GRACE_MS = 2_000;

/** zod issue → a message for the caller that never quotes the request. */
function describe(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): string {
  const where = issue.path.map(String).join('.') || 'body';
  if (issue.code === 'unrecognized_keys') {
    if ((issue.keys ?? []).some((k) => /tenant/i.test(k))) return `${where}: the tenant comes from the credential and cannot be named in a query`;
    return `${where}: unknown field`;
  }
  if (issue.code === 'invalid_union' && issue.path[issue.path.length - 1] === 'kind') {
    return 'kind: must be one of trend, top, funnel, events, warnings, schema';
  }
  return `${where}: ${issue.message}`;
}

export function parseQuery(body: unknown): Query {
  const parsed = Query.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(ErrorCode.INVALID_QUERY, issue ? describe(issue) : 'invalid query');
  }
  return parsed.data;
}

/** Engine limit errors (WarehouseError.kind === 'limit') → the caller's 422, by ClickHouse's numeric code. */
export function limitError(err: WarehouseError): AppError {
  switch (err.clickhouseCode) {
    case 159: // TIMEOUT_EXCEEDED
    case 160: // TOO_SLOW
      return new AppError(ErrorCode.QUERY_TIMEOUT, 'the query ran past this node\'s time limit; narrow the time range or the filters');
    case 396: // TOO_MANY_ROWS_OR_BYTES (max_result_rows / max_result_bytes)
      return new AppError(ErrorCode.RESULT_TOO_LARGE, 'the result is larger than this node returns; lower the limit or narrow the query');
    default: // 158 TOO_MANY_ROWS, 307 TOO_MANY_BYTES, 241 MEMORY_LIMIT_EXCEEDED
      return new AppError(ErrorCode.QUERY_TOO_EXPENSIVE, 'the query would read or hold more data than this node allows; narrow the time range or add filters');
  }
}

/** A failed call's outcome label: its error code, or how the HTTP layer will answer it (a small fixed set). */
function outcomeOf(err: unknown): string {
  if (isAppError(err)) return err.code;
  if (err instanceof WarehouseError && (err.kind === 'unavailable' || err.kind === 'limit')) return ErrorCode.UNAVAILABLE;
  return ErrorCode.INTERNAL;
}

export class QueryService {
  /** Fair queueing over the engine's read slots (src/query/fair-scheduler.ts). */
  readonly scheduler: FairScheduler;
  private readonly priority = new EnginePriority();
  private readonly perTenant = new Map<string, number>();
  private readonly now: () => Date;
  // One bucket per (tenant, queriesPerMinute) in an LRU of 100k keys ≈ 10 MB at most.
  private readonly perMinute: TokenBuckets;

  constructor(
    private readonly o: {
      warehouse: Warehouse;
      limits: QueryLimits;
      /** A tenant's query caps, from the in-memory key table (no I/O: called on every query). */
      caps?: (tenantId: string) => QueryCaps | null | undefined;
      now?: () => Date;
      /** Clock of the per-minute buckets (tests). */
      clockMs?: () => number;
      /** Every call, ok or not (palisade_query_duration_seconds): kind (`invalid` when unparseable), outcome (`ok` or an error code). */
      observe?: (kind: string, outcome: string, seconds: number) => void;
    },
  ) {
    this.scheduler = new FairScheduler({ slots: o.limits.maxConcurrent, maxQueued: o.limits.maxQueued, now: o.clockMs });
    this.now = o.now ?? (() => new Date());
    this.perMinute = new TokenBuckets({ now: o.clockMs });
  }

  /** The limits this tenant's queries run under now: the node's, lowered by its caps. */
  limitsFor(tenantId: string): TenantQueryLimits {
    return tenantLimits(this.o.limits, this.o.caps?.(tenantId));
  }

  /** Settings in this order: readonly last, since it forbids changing settings after it. */
  settings(tenantId: string, mine: TenantQueryLimits = this.limitsFor(tenantId)): Settings {
    const l = this.o.limits;
    const s: Settings = {
      max_execution_time: Math.max(1, Math.ceil(mine.timeoutMs / 1000)),
      max_rows_to_read: mine.maxRowsToRead,
      read_overflow_mode: 'throw',
      max_result_rows: l.maxResultRows,
      max_result_bytes: l.maxResultBytes,
      result_overflow_mode: 'throw',
      max_memory_usage: l.maxMemoryBytes,
      max_threads: l.maxThreads,
      // Counts and JSON numbers as JSON numbers on both adapters (a server quotes 64-bit integers by default).
      output_format_json_quote_64bit_integers: 0,
    };
    if (l.tenantSetting && this.o.warehouse.kind === 'server') s[l.tenantSetting] = tenantId;
    s.readonly = 1;
    return s;
  }

  async run(principal: Principal, body: unknown): Promise<QueryOutcome> {
    if (principal.scope !== 'query') throw new AppError(ErrorCode.WRONG_SCOPE, 'only a query key can read data');
    const started = performance.now();
    let kind = 'invalid';
    try {
      const query = parseQuery(body);
      kind = query.kind;
      const scope = { tenantId: principal.tenantId, now: this.now() };
      const compiled = compile(query, scope);
      const mine = this.limitsFor(principal.tenantId);
      this.chargeMinute(principal.tenantId, mine.queriesPerMinute);
      const release = this.hold(principal.tenantId, mine.maxPerTenant);
      let rows: Record<string, unknown>[];
      try {
        rows = await this.scheduler.run(principal.tenantId, 'interactive', () => this.execute(compiled.sql, compiled.params, principal.tenantId, mine, 'interactive'));
      } finally {
        release();
      }
      const outcome = { kind: query.kind, result: shape(query, rows, scope), rows: rows.length, durationMs: Math.round(performance.now() - started) };
      this.o.observe?.(kind, 'ok', (performance.now() - started) / 1000);
      return outcome;
    } catch (err) {
      this.o.observe?.(kind, outcomeOf(err), (performance.now() - started) / 1000);
      throw err;
    }
  }

  /** The tenant's queriesPerMinute bucket (0: none); a valid query costs one token, an invalid one nothing. */
  private chargeMinute(tenantId: string, queriesPerMinute: number): void {
    if (queriesPerMinute <= 0) return;
    const policy: BucketPolicy = { name: 'query', ratePerSec: queriesPerMinute / 60, burst: queriesPerMinute };
    // Keyed with the rate: a changed cap starts a fresh, full bucket instead of inheriting the old one's debt.
    const d = this.perMinute.take(`${tenantId}:${queriesPerMinute}`, policy);
    if (!d.allowed) {
      throw new AppError(ErrorCode.TOO_MANY_QUERIES, `this tenant may run at most ${queriesPerMinute} queries a minute; retry later`, { retryAfter: d.retryAfterSeconds });
    }
  }

  private async execute(
    sql: string,
    params: Record<string, unknown>,
    tenantId: string,
    mine: TenantQueryLimits,
    lane: Exclude<Lane, 'system'>,
    wh: Warehouse = this.o.warehouse,
  ): Promise<Record<string, unknown>[]> {
    let settings = this.settings(tenantId, mine);
    // The tenant setting feeds the query user's row policies; another login has none and may not accept it.
    if (wh !== this.o.warehouse && this.o.limits.tenantSetting) delete settings[this.o.limits.tenantSetting];
    if (wh.kind === 'embedded') {
      // Embedded only: a server's readonly profile must list `priority` as changeable first (ops/clickhouse).
      const { readonly, ...rest } = settings;
      const priority = this.priority.priorityOf(tenantId, lane);
      // A yielding read (an export, a heavy tenant's scan) gets one thread: the other cores stay free for everyone else.
      settings = { ...rest, ...(priority === 2 ? { max_threads: 1 } : {}), priority, readonly: readonly as number };
    }
    const started = performance.now();
    try {
      // Literals on the embedded engine: a tenant's read must not queue behind another's in chdb's parameter chain.
      return await wh.query(sql, { params, settings, timeoutMs: mine.timeoutMs + CLIENT_GRACE_MS, inlineParams: true });
    } catch (err) {
      if (err instanceof WarehouseError && err.kind === 'limit') throw limitError(err);
      // The engine refused a value the query bound (a zone or number it cannot take): the caller's mistake, never an outage.
      if (err instanceof WarehouseError && (err.kind === 'argument' || err.kind === 'data')) {
        throw new AppError(ErrorCode.INVALID_QUERY, 'the database refused a value in this query (a time zone, number or time it cannot use)', { cause: err });
      }
      // QUOTA_EXCEEDED: the query user's ClickHouse quota (ops/clickhouse/query-user.sql) for this interval.
      if (err instanceof WarehouseError && err.clickhouseCode === 201) {
        throw new AppError(ErrorCode.TOO_MANY_QUERIES, 'this service has run too many queries this minute; retry shortly', { retryAfter: 10 });
      }
      throw err;
    } finally {
      if (lane === 'interactive') this.priority.observe(tenantId, performance.now() - started);
    }
  }

  /**
   * One of the tenant's concurrent reads (maxConcurrent, at most the node's
   * PALISADE_QUERY_MAX_PER_TENANT), held until the returned release is called;
   * 429 when the tenant already has that many running or waiting.
   */
  private hold(tenantId: string, maxPerTenant: number): () => void {
    const mine = this.perTenant.get(tenantId) ?? 0;
    if (mine >= maxPerTenant) {
      throw new AppError(ErrorCode.TOO_MANY_QUERIES, `at most ${maxPerTenant} queries per tenant run at once; retry shortly`, { retryAfter: 1 });
    }
    this.perTenant.set(tenantId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.perTenant.get(tenantId) ?? 1) - 1;
      if (left === 0) this.perTenant.delete(tenantId);
      else this.perTenant.set(tenantId, left);
    };
  }

  /**
   * A read of one tenant's data outside the structured query API (the audit
   * trail, an export, a support export), under the same caps as a query:
   * opening it costs one queries-per-minute token and holds one of the
   * tenant's concurrent reads until `release`; each statement through
   * `warehouse` waits for the tenant's fair turn on `lane`, runs read-only
   * under the tenant's time and rows-to-read limits, and fails with the same
   * 422 codes as a query. Release it in a `finally` (a stream: when it ends
   * or is cancelled).
   */
  openRead(tenantId: string, lane: Exclude<Lane, 'system'> = 'interactive', via?: Warehouse): TenantRead {
    const mine = this.limitsFor(tenantId);
    this.chargeMinute(tenantId, mine.queriesPerMinute);
    const release = this.hold(tenantId, mine.maxPerTenant);
    // `via`: another login (on a server, the query user may read only events, warnings and dead letters;
    // the audit log and settings are read as the admin user, still under the tenant's limits).
    const wh = via ?? this.o.warehouse;
    const refuse = (): never => {
      throw new AppError(ErrorCode.INTERNAL, 'a tenant read cannot write');
    };
    const warehouse: Warehouse = {
      kind: wh.kind,
      database: wh.database,
      cluster: wh.cluster,
      query: <T>(sql: string, options: { params?: Record<string, unknown> } = {}) =>
        this.scheduler.run(tenantId, lane, () => this.execute(sql, options.params ?? {}, tenantId, mine, lane, wh)) as Promise<T[]>,
      command: async () => refuse(),
      insertJson: async () => refuse(),
      ping: () => wh.ping(),
      close: async () => {},
    };
    return { warehouse, limits: mine, release };
  }
}
