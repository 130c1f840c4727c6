/**
 * The only place that reads process.env. Every setting is parsed once by zod;
 * a bad value stops start-up with a message naming the variable and the fix.
 */
import path from 'node:path';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

const EnvSchema = z.object({
  PALISADE_DATA_DIR: z.string().min(1).default('./data'),
  PALISADE_HOST: z.string().min(1).default('127.0.0.1'),
  PALISADE_PORT: int(0, 65535).default(8443),
  PALISADE_ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  PALISADE_ADMIN_PORT: int(0, 65535).default(8444),
  PALISADE_TLS_CERT: z.string().min(1).optional(),
  PALISADE_TLS_KEY: z.string().min(1).optional(),
  PALISADE_TRUSTED_PROXIES: list.default([]),
  PALISADE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PALISADE_ADMIN_TOKEN: z.string().min(1).optional(),

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

  PALISADE_SPOOL_MAX_BYTES: int(1 << 16, Number.MAX_SAFE_INTEGER).default(1 << 30),
  // Benchmark-only: measures what durability costs. Never turn off in production.
  PALISADE_SPOOL_FSYNC: bool.default(true),
  PALISADE_FLUSH_INTERVAL_MS: int(10, 60_000).default(250),
  // 20k rows: one JSONEachRow INSERT of that size takes ~0.3 s in chDB here.
  PALISADE_FLUSH_MAX_ROWS: int(1, 1_000_000).default(20_000),
  // Revocation must reach every edge within 5 s: refresh well inside that.
  PALISADE_KEY_REFRESH_MS: int(100, 60_000).default(2_000),
  PALISADE_AUTH_CACHE_TTL_MS: int(0, 3_600_000).default(60_000),
  // argon2id costs ~20-30 ms of one core; two at a time leaves the event loop
  // and the other core for ingestion when someone floods us with bad secrets.
  PALISADE_ARGON2_CONCURRENCY: int(1, 64).default(2),
  PALISADE_SHUTDOWN_DEADLINE_MS: int(100, 600_000).default(10_000),

  CLICKHOUSE_URL: z.string().url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier')
    .default('palisade'),
  CLICKHOUSE_TIMEOUT_MS: int(100, 600_000).default(30_000),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  tls: { certFile?: string; keyFile?: string };
  trustedProxies: string[];
  logLevel: Env['PALISADE_LOG_LEVEL'];
  adminToken?: string;
  limits: {
    maxEventBytes: number;
    maxBodyBytes: number;
    maxDecompressedBytes: number;
    maxBatchEvents: number;
    maxProperties: number;
    maxStringLength: number;
    maxDepth: number;
  };
  spool: { maxBytes: number; fsync: boolean };
  flush: { intervalMs: number; maxRows: number };
  auth: { keyRefreshMs: number; cacheTtlMs: number; argon2Concurrency: number };
  shutdownDeadlineMs: number;
  clickhouse:
    | { kind: 'embedded'; database: string; timeoutMs: number }
    | { kind: 'server'; url: string; user: string; password: string; database: string; timeoutMs: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? 'environment');
      return `  ${name}: ${i.message} (fix the value or unset it to use the default)`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (Boolean(e.PALISADE_TLS_CERT) !== Boolean(e.PALISADE_TLS_KEY)) {
    throw new ConfigError(
      'invalid configuration:\n  PALISADE_TLS_CERT/PALISADE_TLS_KEY: set both (a PEM certificate and its key) or neither',
    );
  }
  return {
    dataDir: path.resolve(e.PALISADE_DATA_DIR),
    host: e.PALISADE_HOST,
    port: e.PALISADE_PORT,
    adminHost: e.PALISADE_ADMIN_HOST,
    adminPort: e.PALISADE_ADMIN_PORT,
    tls: { certFile: e.PALISADE_TLS_CERT, keyFile: e.PALISADE_TLS_KEY },
    trustedProxies: e.PALISADE_TRUSTED_PROXIES,
    logLevel: e.PALISADE_LOG_LEVEL,
    adminToken: e.PALISADE_ADMIN_TOKEN,
    limits: {
      maxEventBytes: e.PALISADE_MAX_EVENT_BYTES,
      maxBodyBytes: e.PALISADE_MAX_BODY_BYTES,
      maxDecompressedBytes: e.PALISADE_MAX_DECOMPRESSED_BYTES,
      maxBatchEvents: e.PALISADE_MAX_BATCH_EVENTS,
      maxProperties: e.PALISADE_MAX_PROPERTIES,
      maxStringLength: e.PALISADE_MAX_STRING_LENGTH,
      maxDepth: e.PALISADE_MAX_DEPTH,
    },
    spool: { maxBytes: e.PALISADE_SPOOL_MAX_BYTES, fsync: e.PALISADE_SPOOL_FSYNC },
    flush: { intervalMs: e.PALISADE_FLUSH_INTERVAL_MS, maxRows: e.PALISADE_FLUSH_MAX_ROWS },
    auth: {
      keyRefreshMs: e.PALISADE_KEY_REFRESH_MS,
      cacheTtlMs: e.PALISADE_AUTH_CACHE_TTL_MS,
      argon2Concurrency: e.PALISADE_ARGON2_CONCURRENCY,
    },
    shutdownDeadlineMs: e.PALISADE_SHUTDOWN_DEADLINE_MS,
    clickhouse: e.CLICKHOUSE_URL
      ? {
          kind: 'server',
          url: e.CLICKHOUSE_URL,
          user: e.CLICKHOUSE_USER,
          password: e.CLICKHOUSE_PASSWORD,
          database: e.CLICKHOUSE_DATABASE,
          timeoutMs: e.CLICKHOUSE_TIMEOUT_MS,
        }
      : { kind: 'embedded', database: e.CLICKHOUSE_DATABASE, timeoutMs: e.CLICKHOUSE_TIMEOUT_MS },
  };
}
