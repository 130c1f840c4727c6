/**
 * The only place that reads process.env. Every setting is parsed once by zod;
 * a bad value stops start-up with a message naming the variable and the fix.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o;
  } catch {
    return false;
  }
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const toMs = (v: string) => Number(v.slice(0, -1)) * UNIT_MS[v.slice(-1) as keyof typeof UNIT_MS];

/** `90s`, `30m`, `8h`, `7d` → milliseconds. */
const duration = (fallback: string) =>
  z
    .string()
    .regex(/^\d{1,7}[smhd]$/, 'must be a duration such as 30m, 8h or 1d')
    .default(fallback)
    .transform(toMs)
    .refine((v) => v >= 1_000, 'must be at least 1s');

/** The same, or `off` (null). */
const durationOrOff = (fallback: string) =>
  z
    .string()
    .regex(/^(\d{1,7}[smhd]|off)$/, 'must be a duration such as 30m, 8h or 1d, or off')
    .default(fallback)
    .transform((v) => (v === 'off' ? null : toMs(v)))
    .refine((v) => v === null || v >= 1_000, 'must be at least 1s');

/**
 * One section of the configuration: its environment variables (one zod field
 * each, with its default and bounds) and the shape the service reads, built
 * from them. The section's type is inferred from that shape.
 */
function section<S extends z.ZodRawShape, T>(vars: S, build: (v: z.output<z.ZodObject<S>>) => T, check?: (v: z.output<z.ZodObject<S>>, ctx: z.RefinementCtx) => void) {
  const object = z.object(vars);
  return { vars, schema: (check ? object.superRefine(check) : object).transform(build) };
}

/** A rule across variables (both or neither, needs another): its message says the fix itself. */
function rule(ctx: z.RefinementCtx, variable: string, message: string): void {
  ctx.addIssue({ code: 'custom', path: [variable], message, params: { rule: true } });
}

// Variables two sections read: one definition each.
const PALISADE_HOST = z.string().min(1).default('127.0.0.1');
const CLICKHOUSE_URL = z.string().url().optional();
const CLICKHOUSE_QUERY_USER = z.string().min(1).optional();

const server = section(
  {
    PALISADE_DATA_DIR: z.string().min(1).default('./data'),
    PALISADE_HOST,
    PALISADE_PORT: int(0, 65535).default(8443),
    PALISADE_ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
    PALISADE_ADMIN_PORT: int(0, 65535).default(8444),
    PALISADE_TLS_CERT: z.string().min(1).optional(),
    PALISADE_TLS_KEY: z.string().min(1).optional(),
    PALISADE_TRUSTED_PROXIES: list.default([]),
    PALISADE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PALISADE_ADMIN_TOKEN: z.string().min(1).optional(),
    PALISADE_SHUTDOWN_DEADLINE_MS: int(100, 600_000).default(10_000),
  },
  (v) => ({
    dataDir: path.resolve(v.PALISADE_DATA_DIR),
    host: v.PALISADE_HOST,
    port: v.PALISADE_PORT,
    adminHost: v.PALISADE_ADMIN_HOST,
    adminPort: v.PALISADE_ADMIN_PORT,
    tls: { certFile: v.PALISADE_TLS_CERT, keyFile: v.PALISADE_TLS_KEY },
    trustedProxies: v.PALISADE_TRUSTED_PROXIES,
    logLevel: v.PALISADE_LOG_LEVEL,
    adminToken: v.PALISADE_ADMIN_TOKEN,
    shutdownDeadlineMs: v.PALISADE_SHUTDOWN_DEADLINE_MS,
  }),
  (v, ctx) => {
    if (Boolean(v.PALISADE_TLS_CERT) !== Boolean(v.PALISADE_TLS_KEY)) {
      rule(ctx, 'PALISADE_TLS_CERT/PALISADE_TLS_KEY', 'set both (a PEM certificate and its key) or neither');
    }
  },
);

const limits = section(
  {
    // Segment's documented limits: 32 KB per event, 500 KB per batch request.
    PALISADE_MAX_EVENT_BYTES: int(1024, 1 << 20).default(32 * 1024),
    PALISADE_MAX_BODY_BYTES: int(1024, 16 << 20).default(500 * 1024),
    // A gzip body may inflate to this much; past it the request is a 413, so a
    // 1 KB zip bomb costs us at most this many bytes of memory.
    PALISADE_MAX_DECOMPRESSED_BYTES: int(1024, 64 << 20).default(1024 * 1024),
    PALISADE_MAX_BATCH_EVENTS: int(1, 100_000).default(2_000),
    PALISADE_MAX_PROPERTIES: int(1, 100_000).default(500),
    PALISADE_MAX_STRING_LENGTH: int(16, 1 << 20).default(8_192),
    PALISADE_MAX_DEPTH: int(1, 64).default(8),
  },
  (v) => ({
    limits: {
      maxEventBytes: v.PALISADE_MAX_EVENT_BYTES,
      maxBodyBytes: v.PALISADE_MAX_BODY_BYTES,
      maxDecompressedBytes: v.PALISADE_MAX_DECOMPRESSED_BYTES,
      maxBatchEvents: v.PALISADE_MAX_BATCH_EVENTS,
      maxProperties: v.PALISADE_MAX_PROPERTIES,
      maxStringLength: v.PALISADE_MAX_STRING_LENGTH,
      maxDepth: v.PALISADE_MAX_DEPTH,
    },
  }),
);

const delivery = section(
  {
    PALISADE_SPOOL_MAX_BYTES: int(1 << 16, Number.MAX_SAFE_INTEGER).default(1 << 30),
    // Benchmark-only: measures what durability costs. Never turn off in production.
    PALISADE_SPOOL_FSYNC: bool.default(true),
    PALISADE_FLUSH_INTERVAL_MS: int(10, 60_000).default(250),
    // 20k rows: one JSONEachRow INSERT of that size takes ~0.3 s in chDB here.
    PALISADE_FLUSH_MAX_ROWS: int(1, 1_000_000).default(20_000),
    // Longest wait between flush attempts while ClickHouse is failing (full jitter below it):
    // one attempt per ≤30 s per edge during a long outage; catch-up starts at most this late.
    PALISADE_FLUSH_BACKOFF_MAX_MS: int(100, 600_000).default(30_000),
  },
  (v) => ({
    spool: { maxBytes: v.PALISADE_SPOOL_MAX_BYTES, fsync: v.PALISADE_SPOOL_FSYNC },
    flush: { intervalMs: v.PALISADE_FLUSH_INTERVAL_MS, maxRows: v.PALISADE_FLUSH_MAX_ROWS, backoffMaxMs: v.PALISADE_FLUSH_BACKOFF_MAX_MS },
  }),
);

const auth = section(
  {
    // Revocation must reach every edge within 5 s: refresh well inside that.
    PALISADE_KEY_REFRESH_MS: int(100, 60_000).default(2_000),
    PALISADE_AUTH_CACHE_TTL_MS: int(0, 3_600_000).default(60_000),
    // argon2id costs ~20-30 ms of one core; two at a time leaves the event loop
    // and the other core for ingestion when someone floods us with bad secrets.
    PALISADE_ARGON2_CONCURRENCY: int(1, 64).default(2),
  },
  (v) => ({
    auth: { keyRefreshMs: v.PALISADE_KEY_REFRESH_MS, cacheTtlMs: v.PALISADE_AUTH_CACHE_TTL_MS, argon2Concurrency: v.PALISADE_ARGON2_CONCURRENCY },
  }),
);

const query = section(
  {
    // Query API limits, per query: one tenant's heavy query must not take the node
    // down. A 30-day trend over 100k events reads ~100k rows in ~50 ms here.
    PALISADE_QUERY_TIMEOUT_MS: int(1_000, 300_000).default(15_000),
    PALISADE_QUERY_MAX_ROWS_TO_READ: int(1_000, Number.MAX_SAFE_INTEGER).default(50_000_000),
    PALISADE_QUERY_MAX_RESULT_ROWS: int(1_000, 10_000_000).default(100_000),
    PALISADE_QUERY_MAX_RESULT_BYTES: int(1 << 20, 4 << 30).default(64 << 20),
    PALISADE_QUERY_MAX_MEMORY_BYTES: int(16 << 20, Number.MAX_SAFE_INTEGER).default(1 << 30),
    PALISADE_QUERY_MAX_THREADS: int(1, 64).default(2),
    // chDB opens 4 connections: two for queries leaves two for the flusher and the control plane.
    PALISADE_QUERY_MAX_CONCURRENT: int(1, 256).default(2),
    // One tenant's reads in flight (running, or waiting for its fair turn). 8: a
    // dashboard's first paint sends about six queries at once, and the fair
    // scheduler lets at most PALISADE_QUERY_MAX_CONCURRENT - 1 of them run while
    // the rest wait their turn behind other tenants. Never above what the node
    // holds in flight (the rule below).
    PALISADE_QUERY_MAX_PER_TENANT: int(1, 10_256).default(8),
    PALISADE_QUERY_MAX_QUEUED: int(0, 10_000).default(64),
    // Opt-in, ClickHouse server only: pass the tenant in this custom setting for
    // the row policy in ops/clickhouse (e.g. SQL_palisade_tenant).
    PALISADE_QUERY_TENANT_SETTING: z
      .string()
      .regex(/^([A-Za-z][A-Za-z0-9_]{0,63})?$/, 'must be a custom setting name such as SQL_palisade_tenant')
      .optional(),
    // Origins (besides the server's own) whose pages may call /v1/query from a browser.
    PALISADE_DASHBOARD_ORIGINS: list.pipe(z.array(z.url().refine(isOrigin, 'each entry must be an origin such as https://dash.example.com (no path)'))).default([]),
    CLICKHOUSE_URL,
    CLICKHOUSE_QUERY_USER,
  },
  (v) => ({
    /** The query API's node-wide limits (PALISADE_QUERY_*), enforced by src/query/service.ts. */
    query: {
      timeoutMs: v.PALISADE_QUERY_TIMEOUT_MS,
      maxRowsToRead: v.PALISADE_QUERY_MAX_ROWS_TO_READ,
      maxResultRows: v.PALISADE_QUERY_MAX_RESULT_ROWS,
      maxResultBytes: v.PALISADE_QUERY_MAX_RESULT_BYTES,
      maxMemoryBytes: v.PALISADE_QUERY_MAX_MEMORY_BYTES,
      maxThreads: v.PALISADE_QUERY_MAX_THREADS,
      /** Queries running at once on this node. */
      maxConcurrent: v.PALISADE_QUERY_MAX_CONCURRENT,
      /** One tenant's queries in flight: running (at most maxConcurrent - 1, src/query/fair-scheduler.ts) or waiting their turn. */
      maxPerTenant: v.PALISADE_QUERY_MAX_PER_TENANT,
      /** Queries waiting for a slot on this node; past this, 429 at once. */
      maxQueued: v.PALISADE_QUERY_MAX_QUEUED,
      /**
       * On a ClickHouse server with the row policy of ops/clickhouse: the custom
       * setting that carries the tenant (e.g. SQL_palisade_tenant). Empty: off.
       * A query login is the fenced user of ops/clickhouse/query-user.sql: without the
       * tenant setting its row policy shows nothing, so it defaults on (explicit '' turns it off).
       */
      tenantSetting: v.PALISADE_QUERY_TENANT_SETTING ?? (v.CLICKHOUSE_URL && v.CLICKHOUSE_QUERY_USER ? 'SQL_palisade_tenant' : ''),
    },
    dashboardOrigins: v.PALISADE_DASHBOARD_ORIGINS,
  }),
  (v, ctx) => {
    // One tenant's queries in flight may not exceed what the whole node holds in flight (running + waiting).
    const nodeInFlight = v.PALISADE_QUERY_MAX_CONCURRENT + v.PALISADE_QUERY_MAX_QUEUED;
    if (v.PALISADE_QUERY_MAX_PER_TENANT > nodeInFlight) {
      rule(
        ctx,
        'PALISADE_QUERY_MAX_PER_TENANT',
        `${v.PALISADE_QUERY_MAX_PER_TENANT} is above what the node holds in flight, PALISADE_QUERY_MAX_CONCURRENT + PALISADE_QUERY_MAX_QUEUED (${nodeInFlight}); ` +
          'lower it, or raise PALISADE_QUERY_MAX_QUEUED',
      );
    }
  },
);

const edge = section(
  {
    // docs/hardening.md says how to size the limits for N nodes.
    // Per client IP (IPv6: per /64), before authentication, in requests. 0 turns it off.
    PALISADE_IP_RATE_LIMIT: int(0, 10_000_000).default(1_000),
    PALISADE_IP_RATE_BURST: int(1, 100_000_000).default(2_000),
    // Per key, in events; a tenant setting overrides it. 0 turns it off.
    PALISADE_KEY_RATE_LIMIT: int(0, 10_000_000).default(10_000),
    PALISADE_KEY_RATE_BURST: int(1, 100_000_000).default(100_000),
    // Failed authentications: this many in the window from one IP (or against one key id)
    // start a cool-down during which attempts are refused without argon2. 0 turns one off.
    // 100 per IP: generous to offices and carrier NATs where one misconfigured app shares an address.
    PALISADE_AUTH_FAIL_IP_MAX: int(0, 1_000_000).default(100),
    PALISADE_AUTH_FAIL_KEY_MAX: int(0, 1_000_000).default(50),
    PALISADE_AUTH_FAIL_WINDOW_MS: int(1_000, 3_600_000).default(60_000),
    PALISADE_AUTH_FAIL_COOLDOWN_MS: int(1_000, 86_400_000).default(60_000),
    // A refusal during a cool-down is held this long before it is sent (a tarpit: see edge-limits.ts).
    PALISADE_AUTH_FAIL_TARPIT_MS: int(0, 10_000).default(500),
    // A browser key's refusal for its client network's share is held this long (edge-limits.ts `networkTarpitMs`).
    PALISADE_NETWORK_LIMIT_TARPIT_MS: int(0, 10_000).default(500),
    // Open connections one client IP may hold on a listener (a browser uses ≤ 6 per host).
    PALISADE_MAX_CONNECTIONS_PER_IP: int(1, 1_000_000).default(256),
    PALISADE_HEADERS_TIMEOUT_MS: int(1_000, 120_000).default(10_000),
    PALISADE_REQUEST_TIMEOUT_MS: int(1_000, 600_000).default(30_000),
    PALISADE_MAX_HEADER_BYTES: int(4_096, 65_536).default(16 * 1024),
    // Optional plain-HTTP listener: it never serves the API (a credential seen there is treated as leaked).
    PALISADE_HTTP_PORT: int(0, 65535).optional(),
    PALISADE_HTTP_HOST: z.string().min(1).optional(),
    // The HTTPS port clients reach (behind a load balancer it differs from PALISADE_PORT), for redirects.
    PALISADE_PUBLIC_HTTPS_PORT: int(1, 65535).optional(),
    PALISADE_HOST,
  },
  (v) => ({
    edge: {
      ipRate: { ratePerSec: v.PALISADE_IP_RATE_LIMIT, burst: v.PALISADE_IP_RATE_BURST },
      keyRate: { ratePerSec: v.PALISADE_KEY_RATE_LIMIT, burst: v.PALISADE_KEY_RATE_BURST },
      authFailures: {
        ipMax: v.PALISADE_AUTH_FAIL_IP_MAX,
        keyMax: v.PALISADE_AUTH_FAIL_KEY_MAX,
        windowMs: v.PALISADE_AUTH_FAIL_WINDOW_MS,
        cooldownMs: v.PALISADE_AUTH_FAIL_COOLDOWN_MS,
        tarpitMs: v.PALISADE_AUTH_FAIL_TARPIT_MS,
      },
      networkTarpitMs: v.PALISADE_NETWORK_LIMIT_TARPIT_MS,
      maxConnectionsPerIp: v.PALISADE_MAX_CONNECTIONS_PER_IP,
      headersTimeoutMs: v.PALISADE_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: v.PALISADE_REQUEST_TIMEOUT_MS,
      maxHeaderBytes: v.PALISADE_MAX_HEADER_BYTES,
      /** The plain-HTTP listener, when configured. */
      plainHttp: v.PALISADE_HTTP_PORT === undefined ? undefined : { host: v.PALISADE_HTTP_HOST ?? v.PALISADE_HOST, port: v.PALISADE_HTTP_PORT },
      publicHttpsPort: v.PALISADE_PUBLIC_HTTPS_PORT,
    },
  }),
);

const anomaly = section(
  {
    // The access anomaly watch (src/anomaly/watch.ts). Per edge node, in memory. A count of 0 turns its rule off.
    PALISADE_ANOMALY_WATCH: bool.default(true),
    // Header the trusted load balancer/CDN puts the client's country in (CF-IPCountry,
    // CloudFront-Viewer-Country); believed only from PALISADE_TRUSTED_PROXIES. Unset: no country rule.
    PALISADE_COUNTRY_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name such as CF-IPCountry')
      .transform((v) => v.toLowerCase())
      .optional(),
    // new_ips, foreign_origin and credential_stuffing count within this window.
    PALISADE_ANOMALY_WINDOW: duration('10m'),
    // A key's first hour on this node is learnt, not judged (a server fleet, a deploy, a restart).
    PALISADE_ANOMALY_LEARNING: durationOrOff('1h'),
    // The same (kind, key or tenant) raises at most once per cool-down.
    PALISADE_ANOMALY_COOLDOWN: duration('1h'),
    // 10 networks (/24, /48) a secret key never used before, within the window: servers do not move like that.
    PALISADE_ANOMALY_NEW_IPS: int(0, 100_000).default(10),
    PALISADE_ANOMALY_NEW_COUNTRIES: int(0, 300).default(3),
    PALISADE_ANOMALY_COUNTRY_WINDOW: duration('1h'),
    // Refusals of one publishable key for a foreign origin within the window (one stray page view is noise).
    PALISADE_ANOMALY_FOREIGN_ORIGIN: int(0, 1_000_000).default(20),
    // Failed authentications from one client or against one key, then a success within the window.
    PALISADE_ANOMALY_AUTH_FAILURES: int(0, 1_000_000).default(20),
    // Query calls in a minute above FACTOR × the tenant's baseline and above FLOOR, after WARMUP.
    PALISADE_ANOMALY_QUERY_FACTOR: z.coerce.number().min(0).max(1_000_000).default(10),
    PALISADE_ANOMALY_QUERY_FLOOR: int(0, 10_000_000).default(120),
    PALISADE_ANOMALY_QUERY_WARMUP: durationOrOff('30m'),
    PALISADE_ANOMALY_QUERY_BUCKET: duration('1m'),
  },
  (v) => ({
    /** The access anomaly watch; null when PALISADE_ANOMALY_WATCH=false. */
    anomaly: v.PALISADE_ANOMALY_WATCH
      ? {
          countryHeader: v.PALISADE_COUNTRY_HEADER,
          /** Window for new_ips, foreign_origin and credential_stuffing. */
          windowMs: v.PALISADE_ANOMALY_WINDOW,
          countryWindowMs: v.PALISADE_ANOMALY_COUNTRY_WINDOW,
          learningMs: v.PALISADE_ANOMALY_LEARNING ?? 0,
          cooldownMs: v.PALISADE_ANOMALY_COOLDOWN,
          newIps: v.PALISADE_ANOMALY_NEW_IPS,
          newCountries: v.PALISADE_ANOMALY_NEW_COUNTRIES,
          foreignOrigin: v.PALISADE_ANOMALY_FOREIGN_ORIGIN,
          authFailures: v.PALISADE_ANOMALY_AUTH_FAILURES,
          queryFactor: v.PALISADE_ANOMALY_QUERY_FACTOR,
          queryFloor: v.PALISADE_ANOMALY_QUERY_FLOOR,
          queryWarmupMs: v.PALISADE_ANOMALY_QUERY_WARMUP ?? 0,
          /** Length of one query-count bucket: a minute unless tests or an operator want otherwise. */
          queryBucketMs: v.PALISADE_ANOMALY_QUERY_BUCKET,
        }
      : null,
  }),
);

const secrets = section(
  {
    // Service secrets: the embedded default's 0600 file, or AWS Secrets Manager.
    PALISADE_SECRETS_PROVIDER: z.enum(['file', 'aws']).optional(),
    PALISADE_AWS_SECRET_ID: z.string().min(1).max(2048).optional(),
    AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1').optional(),
    // A Secrets Manager endpoint other than AWS's own (a VPC endpoint, LocalStack).
    PALISADE_AWS_SECRETS_ENDPOINT: z.url().optional(),
    // Rotation reaches every edge within this interval.
    PALISADE_SECRETS_REFRESH_MS: int(1_000, 86_400_000).default(300_000),
  },
  (v) => {
    const refreshMs = v.PALISADE_SECRETS_REFRESH_MS;
    const secretId = v.PALISADE_AWS_SECRET_ID;
    const provider = v.PALISADE_SECRETS_PROVIDER ?? (secretId ? 'aws' : 'file');
    // The check below has refused aws without a secret id.
    const secrets: { provider: 'file'; refreshMs: number } | { provider: 'aws'; secretId: string; region?: string; endpoint?: string; refreshMs: number } =
      provider === 'aws' && secretId ? { provider, secretId, region: v.AWS_REGION, endpoint: v.PALISADE_AWS_SECRETS_ENDPOINT, refreshMs } : { provider: 'file', refreshMs };
    return { secrets };
  },
  (v, ctx) => {
    if (v.PALISADE_SECRETS_PROVIDER === 'aws' && !v.PALISADE_AWS_SECRET_ID) {
      rule(ctx, 'PALISADE_AWS_SECRET_ID', "required with PALISADE_SECRETS_PROVIDER=aws (the secret's name or ARN)");
    }
  },
);

const governance = section(
  {
    // Each node writes its own audit hash chain: two processes must never share a node id.
    // Default: this host's name.
    PALISADE_NODE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -').optional(),
    // An encrypted disk BACKUP may write to (the embedded engine declares `backups`).
    PALISADE_BACKUP_DISK: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a disk name').default('backups'),
    // Data deleted on request is gone from every backup within this many days.
    PALISADE_BACKUP_RETENTION_DAYS: int(1, 3650).default(30),
    PALISADE_BACKUP_INTERVAL: durationOrOff('24h'),
    // Restore each scheduled backup into a scratch database and compare it with its manifest.
    PALISADE_BACKUP_VERIFY: bool.default(true),
    // Retention enforcement, backup expiry and deletion re-application.
    PALISADE_RETENTION_INTERVAL: duration('1h'),
  },
  (v) => ({
    governance: {
      nodeId: v.PALISADE_NODE_ID ?? (hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'node'),
      backupDisk: v.PALISADE_BACKUP_DISK,
      backupRetentionDays: v.PALISADE_BACKUP_RETENTION_DAYS,
      /** null: no scheduled backups. */
      backupIntervalMs: v.PALISADE_BACKUP_INTERVAL,
      verifyScheduledBackups: v.PALISADE_BACKUP_VERIFY,
      housekeepingIntervalMs: v.PALISADE_RETENTION_INTERVAL,
    },
  }),
);

export interface ClickHouseLogin {
  user: string;
  password: string;
}

const clickhouseVars = {
  CLICKHOUSE_URL,
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  // Least privilege on a server (ops/clickhouse): the query API and the flusher
  // log in as their own users when these are set; unset, they run as CLICKHOUSE_USER.
  CLICKHOUSE_QUERY_USER,
  CLICKHOUSE_QUERY_PASSWORD: z.string().default(''),
  CLICKHOUSE_INGEST_USER: z.string().min(1).optional(),
  CLICKHOUSE_INGEST_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier')
    .default('palisade'),
  CLICKHOUSE_TIMEOUT_MS: int(100, 600_000).default(30_000),
  // Scale-out: the cluster (remote_servers) the migrations run ON CLUSTER; server path only
  // (ops/clickhouse/cluster/). Events, warnings and dead letters are sharded by tenant, the rest replicated.
  PALISADE_CLICKHOUSE_CLUSTER: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a cluster name from remote_servers').optional(),
  // Apply pending migrations at `serve` start. Default: yes, except on a cluster, where N edges would race:
  // there `palisade migrate` runs once and an edge refuses to start while migrations are pending.
  PALISADE_MIGRATE_ON_START: bool.optional(),
};
type ClickHouseVars = z.output<z.ZodObject<typeof clickhouseVars>>;

function embeddedEngine(v: ClickHouseVars) {
  const ignoredUsers: string[] = (['CLICKHOUSE_QUERY_USER', 'CLICKHOUSE_INGEST_USER'] as const).filter((k) => v[k] !== undefined);
  return {
    kind: 'embedded' as const,
    database: v.CLICKHOUSE_DATABASE,
    timeoutMs: v.CLICKHOUSE_TIMEOUT_MS,
    /** CLICKHOUSE_*_USER variables set but ignored (chDB has no users): the start-up log says so. */
    ignoredUsers,
    migrateOnStart: v.PALISADE_MIGRATE_ON_START ?? true,
  };
}

function clickhouseServer(v: ClickHouseVars, url: string) {
  return {
    kind: 'server' as const,
    url,
    user: v.CLICKHOUSE_USER,
    password: v.CLICKHOUSE_PASSWORD,
    database: v.CLICKHOUSE_DATABASE,
    timeoutMs: v.CLICKHOUSE_TIMEOUT_MS,
    /** queryUser: the query API's login (readonly, row policy); absent: it runs as `user`. */
    ...(v.CLICKHOUSE_QUERY_USER ? { queryUser: { user: v.CLICKHOUSE_QUERY_USER, password: v.CLICKHOUSE_QUERY_PASSWORD } } : {}),
    /** ingestUser: the flusher's login (INSERT only); absent: it runs as `user`. */
    ...(v.CLICKHOUSE_INGEST_USER ? { ingestUser: { user: v.CLICKHOUSE_INGEST_USER, password: v.CLICKHOUSE_INGEST_PASSWORD } } : {}),
    /** cluster: migrations and run-time DDL go ON CLUSTER (src/storage/cluster-sql.ts). */
    ...(v.PALISADE_CLICKHOUSE_CLUSTER ? { cluster: v.PALISADE_CLICKHOUSE_CLUSTER } : {}),
    migrateOnStart: v.PALISADE_MIGRATE_ON_START ?? !v.PALISADE_CLICKHOUSE_CLUSTER,
  };
}

const clickhouse = section(
  clickhouseVars,
  (v) => ({ clickhouse: v.CLICKHOUSE_URL ? clickhouseServer(v, v.CLICKHOUSE_URL) : embeddedEngine(v) }),
  (v, ctx) => {
    if (v.PALISADE_CLICKHOUSE_CLUSTER && !v.CLICKHOUSE_URL) {
      rule(
        ctx,
        'PALISADE_CLICKHOUSE_CLUSTER',
        'needs CLICKHOUSE_URL (a ClickHouse server of that cluster); the embedded engine cannot run ON CLUSTER DDL or Replicated tables (ops/clickhouse/README.md, "Running N edges")',
      );
    }
  },
);

const SECTIONS = [server, limits, delivery, auth, query, edge, anomaly, secrets, governance, clickhouse] as const;
type Out<S extends { schema: z.ZodType }> = z.output<S['schema']>;
type Flatten<T> = { [K in keyof T]: T[K] };

/** What the service reads: every section's shape, side by side. */
export type Config = Flatten<
  Out<typeof server> &
    Out<typeof limits> &
    Out<typeof delivery> &
    Out<typeof auth> &
    Out<typeof query> &
    Out<typeof edge> &
    Out<typeof anomaly> &
    Out<typeof secrets> &
    Out<typeof governance> &
    Out<typeof clickhouse>
>;
export type QueryLimits = Config['query'];
/** Thresholds of the access anomaly watch (src/anomaly/watch.ts); PALISADE_ANOMALY_*. */
export type AnomalyPolicy = Omit<NonNullable<Config['anomaly']>, 'countryHeader'>;

/** Every environment variable the service reads (deployment files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = [...new Set(SECTIONS.flatMap((s) => Object.keys(s.vars)))];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const lines = new Set<string>();
  const parts: object[] = [];
  for (const s of SECTIONS) {
    const parsed = s.schema.safeParse(env);
    if (parsed.success) {
      parts.push(parsed.data);
      continue;
    }
    for (const i of parsed.error.issues) {
      const name = String(i.path[0] ?? 'environment');
      const isRule = i.code === 'custom' && (i as { params?: { rule?: boolean } }).params?.rule === true;
      lines.add(isRule ? `  ${name}: ${i.message}` : `  ${name}: ${i.message} (fix the value or unset it to use the default)`);
    }
  }
  if (lines.size > 0) throw new ConfigError(`invalid configuration:\n${[...lines].join('\n')}`);
  return Object.assign({}, ...parts) as Config;
}
