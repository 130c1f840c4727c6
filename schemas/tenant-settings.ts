/**
 * A tenant's edge settings (issue 6): how its events are treated for privacy
 * and abuse before they are stored. Shared by the admin API (validation), the
 * control plane (storage), the key table (carried in memory so the hot path
 * reads no database) and the ingest pipeline (applied as a pure step).
 *
 * Paths name a place in one of the three JSON trees, dot-separated, exactly as
 * ClickHouse's JSON type flattens it: `properties.user.email` matches both
 * `{"user":{"email":…}}` and `{"user.email":…}`. A `*` segment matches any key.
 * A path matches everything below it too (`traits.address` covers the street).
 * A rule follows the data where Segment's libraries copy it (`traits.x` also
 * covers `context.traits.x`; a page field in `properties` also covers
 * `context.page`, and back), and `*.email` names that key at any depth of
 * every tree (src/ingest/pii.ts; docs/hardening.md lists what is covered).
 */
import { z } from 'zod';

export const IP_POLICIES = ['full', 'truncate', 'drop'] as const;
export const BOT_POLICIES = ['flag', 'drop'] as const;
export const CONSENT_POLICIES = ['honour', 'ignore'] as const;
export const DNT_POLICIES = ['honour', 'ignore'] as const;

export type IpPolicy = (typeof IP_POLICIES)[number];

// `*.email` (a first segment `*`): that key at any depth of all three trees.
export const PII_PATH_RE = /^(properties|traits|context|\*)(\.[^.\s]{1,256}){1,16}$/;
export const MAX_PII_PATHS = 100;

const PiiPath = z
  .string()
  .max(1024)
  .regex(PII_PATH_RE, 'must be a dotted path under properties, traits or context, such as properties.email, or *.email for that key anywhere');

export const RateLimitSetting = z
  .object({
    // 0 turns the per-key limit off for this tenant.
    eventsPerSecond: z.number().int().min(0).max(10_000_000),
    burst: z.number().int().min(1).max(100_000_000),
  })
  .strict();

/**
 * Per-tenant query caps; each field may only lower this node's own limit
 * (PALISADE_QUERY_*), which the admin API checks (src/query/caps.ts). A field
 * left out: the node's limit. queriesPerMinute has no node-wide counterpart.
 */
export const QueryCapsSetting = z
  .object({
    /** Queries running or waiting at once for this tenant (≤ PALISADE_QUERY_MAX_PER_TENANT). */
    maxConcurrent: z.number().int().min(1).max(256).optional(),
    /** The engine stops the query after this long (≤ PALISADE_QUERY_TIMEOUT_MS / 1000). */
    timeoutSeconds: z.number().int().min(1).max(300).optional(),
    /** Rows one query may read (≤ PALISADE_QUERY_MAX_ROWS_TO_READ). */
    maxRowsToRead: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    /** Token bucket: this many queries a minute, all of them at once after a quiet minute. */
    queriesPerMinute: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();
export type QueryCaps = z.infer<typeof QueryCapsSetting>;

export const TenantSettingsSchema = z
  .object({
    /** The client IP stored with each event: as is, cut to its /24 (IPv4) or /48 (IPv6), or not at all. */
    ipPolicy: z.enum(IP_POLICIES),
    piiDrop: z.array(PiiPath).max(MAX_PII_PATHS),
    /** HMAC-SHA-256 under a per-tenant key: equal values still group, the raw value is never stored. */
    piiHash: z.array(PiiPath).max(MAX_PII_PATHS),
    /** Mask e-mail addresses, card numbers (Luhn-checked), IBANs and phone numbers in every string value. */
    scrubPii: z.boolean(),
    /** Bot traffic (by user agent) is always flagged in `is_bot`; `drop` also discards it. */
    botPolicy: z.enum(BOT_POLICIES),
    /** `honour`: an event whose context.consent says no to analytics is discarded. */
    consentPolicy: z.enum(CONSENT_POLICIES),
    /** `honour`: a request with `DNT: 1` or `Sec-GPC: 1` is discarded. */
    dntPolicy: z.enum(DNT_POLICIES),
    /** A secret key seen on the plain-HTTP listener is revoked at once (it is always refused and audited). */
    revokeOnPlainHttp: z.boolean(),
    /** Per-key token bucket in events; null: this node's default (PALISADE_KEY_RATE_LIMIT/BURST). */
    rateLimit: RateLimitSetting.nullable(),
    /** Query API caps below this node's limits; null: this node's limits (PALISADE_QUERY_*). */
    query: QueryCapsSetting.nullable(),
  })
  .strict();
export type TenantSettings = z.infer<typeof TenantSettingsSchema>;

/** What a PATCH may carry: any subset of the settings. */
export const TenantSettingsPatch = TenantSettingsSchema.partial().strict();
export type TenantSettingsPatch = z.infer<typeof TenantSettingsPatch>;

export const DEFAULT_TENANT_SETTINGS: TenantSettings = Object.freeze({
  // Truncation keeps country/city-level geography and drops the household.
  ipPolicy: 'truncate',
  piiDrop: [],
  piiHash: [],
  scrubPii: false,
  botPolicy: 'flag',
  // A visitor who said no to analytics is not tracked unless the tenant decides otherwise.
  consentPolicy: 'honour',
  // DNT is deprecated in browsers and most analytics ignore it: opt-in.
  dntPolicy: 'ignore',
  revokeOnPlainHttp: false,
  rateLimit: null,
  query: null,
}) as TenantSettings;
