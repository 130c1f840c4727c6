/**
 * Per-stage metrics that are events rather than states: HTTP
 * requests (by listener, route pattern, status class and credential kind),
 * authentication failures by reason, query, flush and ClickHouse call
 * latencies. Each is one Counter.inc or Histogram.observe on the path that
 * produced it (a Map lookup and an array walk: well under a microsecond), so
 * they cannot be read at scrape time like metrics.ts's mirrors.
 *
 * Labels are small fixed sets. `route` is a pattern registered in code
 * (`/v1/:path`, never the raw path) or `unmatched` / `unparsed`; `key_kind`
 * is the credential class (none, publishable, secret, query, admin), never a
 * tenant or a key id.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { gauge, mirroredCounter } from './metrics.ts';

export type Listener = 'api' | 'admin';
/** The "tenant class" of a request: which kind of credential it authenticated with. */
export type KeyKind = 'none' | 'publishable' | 'secret' | 'query' | 'admin';

export interface HttpObservation {
  listener: Listener;
  /** A registered route pattern, `unmatched` (no route for this method and path) or `unparsed` (refused by Node's HTTP parser). */
  route: string;
  status: number;
  keyKind: KeyKind;
  seconds: number;
}

export interface StageMetrics {
  http(o: HttpObservation): void;
  /** A request Node's HTTP parser answered itself (431, 400, 408): counted, not timed. */
  parserRefusal(listener: Listener, status: number): void;
  authFailure(listener: Listener, reason: string): void;
  query(kind: string, outcome: string, seconds: number): void;
  /** One flush cycle that moved rows (or failed); empty cycles are not observed. */
  flush(outcome: 'ok' | 'error', seconds: number): void;
  clickhouse(op: 'query' | 'command' | 'insert', outcome: string, seconds: number): void;
  /** One spool group commit that made its appends durable: its time and how many it acknowledged. */
  groupCommit(seconds: number, records: number): void;
}

// 1 ms – 10 s: an ingestion request is ~1-3 ms here (fsync ~0.4 ms); a heavy query or a slow ClickHouse reaches seconds.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Spool group commits: 0.1 ms – 1 s (one fdatasync is ~0.4-0.7 ms here; a disk shared with the engine's merges is slower).
const DISK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
// Appends one group commit acknowledged: 1 when idle, hundreds under load.
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
// Queries and flushes: 5 ms – 60 s (PALISADE_QUERY_TIMEOUT defaults to seconds, a flush of 10k rows is ~50 ms).
const SLOW_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export function registerStageMetrics(registry: Registry): StageMetrics {
  const requests = new Counter({
    name: 'palisade_http_requests_total',
    help: 'HTTP responses, by listener, route pattern (unmatched: no route; unparsed: refused by the HTTP parser, e.g. 431), status class and credential kind.',
    labelNames: ['listener', 'route', 'status_class', 'key_kind'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'palisade_http_request_duration_seconds',
    help: 'Time from the request reaching the app to its response, by listener and route pattern.',
    labelNames: ['listener', 'route'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'palisade_auth_failures_total',
    help: 'Refused authentications, by listener and reason (missing, malformed, bad_checksum, unknown_key, wrong_secret, revoked, throttled, overloaded, admin_token, credential_in_url).',
    labelNames: ['listener', 'reason'],
    registers: [registry],
  });
  const queries = new Histogram({
    name: 'palisade_query_duration_seconds',
    help: 'Query API calls (tenant and support), by kind (trend, top, funnel, events, warnings, schema; invalid when unparseable) and outcome (ok or the error code).',
    labelNames: ['kind', 'outcome'],
    buckets: SLOW_BUCKETS,
    registers: [registry],
  });
  const flushes = new Histogram({
    name: 'palisade_flusher_batch_duration_seconds',
    help: 'Flush cycles that moved rows or failed (read spool, insert per tenant, checkpoint), by outcome. _count is the number of batches.',
    labelNames: ['outcome'],
    buckets: SLOW_BUCKETS,
    registers: [registry],
  });
  const chCalls = new Histogram({
    name: 'palisade_clickhouse_request_duration_seconds',
    help: 'ClickHouse calls from this edge, by operation (query, command, insert) and outcome (ok, or the error kind: data, unavailable, limit, other).',
    labelNames: ['op', 'outcome'],
    buckets: SLOW_BUCKETS,
    registers: [registry],
  });
  const groupCommits = new Histogram({
    name: 'palisade_spool_group_commit_duration_seconds',
    help: 'Spool group commits that made their appends durable (sealing, write and fdatasync): what every ingestion request waits for before its answer. _count is the number of group commits (one fdatasync each unless PALISADE_SPOOL_FSYNC=false).',
    buckets: DISK_BUCKETS,
    registers: [registry],
  });
  const groupRecords = new Histogram({
    name: 'palisade_spool_group_commit_records',
    help: 'Ingestion requests (spool appends) each group commit made durable.',
    buckets: GROUP_BUCKETS,
    registers: [registry],
  });
  return {
    http: (o) => {
      requests.inc({ listener: o.listener, route: o.route, status_class: statusClass(o.status), key_kind: o.keyKind });
      duration.observe({ listener: o.listener, route: o.route }, o.seconds);
    },
    parserRefusal: (listener, status) => requests.inc({ listener, route: 'unparsed', status_class: statusClass(status), key_kind: 'none' }),
    authFailure: (listener, reason) => authFailures.inc({ listener, reason }),
    query: (kind, outcome, seconds) => queries.observe({ kind, outcome }, seconds),
    flush: (outcome, seconds) => flushes.observe({ outcome }, seconds),
    clickhouse: (op, outcome, seconds) => chCalls.observe({ op, outcome }, seconds),
    groupCommit: (seconds, records) => {
      groupCommits.observe(seconds);
      groupRecords.observe(records);
    },
  };
}

export interface StateSources {
  /** The audit writer's head (this node's chain). */
  auditHead: () => { seq: number };
  auditChain: () => { ok: boolean; verifiedSeq: number; lastVerifiedAt: number | null };
  /** The last parts sample (src/ops/parts.ts), taken by the housekeeper; never queried here. */
  parts: () => { at: number; tables: { table: string; maxPartsPerPartition: number; activeParts: number }[] } | null;
  authCacheHits: () => number;
  authKnownClientBypass: () => number;
}

/** State gauges (audit chain, parts, auth cache), read from their sources at scrape time (nothing here touches ClickHouse). */
export function registerStateMetrics(registry: Registry, src: StateSources): void {
  gauge(registry, 'palisade_audit_chain_head_sequence', "The last entry this node wrote to its audit chain (seq).", () => src.auditHead().seq);
  gauge(registry, 'palisade_audit_chain_verified_sequence', 'The last entry of this node\'s audit chain the background check has verified.', () => src.auditChain().verifiedSeq);
  gauge(
    registry,
    'palisade_audit_chain_verified',
    '0 once a check of this node\'s audit chain found an entry altered, removed, reordered or inserted (stays 0: the evidence stays); 1 otherwise.',
    () => (src.auditChain().ok ? 1 : 0),
  );
  gauge(registry, 'palisade_audit_chain_last_verified_timestamp_seconds', 'When the audit chain check last completed (unix seconds; 0: not yet).', () => (src.auditChain().lastVerifiedAt ?? 0) / 1000);
  mirroredCounter(registry, 'palisade_auth_cache_hits_total', 'Secret-key authentications answered from the verified-token cache (no argon2). Hit ratio: this / (this + palisade_auth_argon2_verifications_total).', src.authCacheHits);
  mirroredCounter(registry, 'palisade_auth_known_client_bypass_total', "argon2 checks allowed during a key's failed-secret cool-down because the client address verified that key recently (the owner is not locked out by an attacker).", src.authKnownClientBypass);

  for (const [name, help, pick] of [
    ['palisade_clickhouse_max_parts_per_partition', 'The most active parts in one partition of each table (ClickHouse delays inserts at 1000, refuses them at 3000 by default).', (t: { maxPartsPerPartition: number }) => t.maxPartsPerPartition],
    ['palisade_clickhouse_active_parts', 'Active parts of each table (on a cluster: on the replica holding the most).', (t: { activeParts: number }) => t.activeParts],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['table'],
      registers: [registry],
      collect() {
        const sample = src.parts();
        if (!sample) return;
        this.reset();
        for (const t of sample.tables) this.set({ table: t.table }, pick(t));
      },
    });
  }
  gauge(registry, 'palisade_clickhouse_parts_sample_timestamp_seconds', 'When the parts gauges were last sampled from system.parts (unix seconds; 0: not yet).', () => (src.parts()?.at ?? 0) / 1000);
}
