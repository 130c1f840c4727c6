/**
 * Tenants' edge settings in ClickHouse: one ReplacingMergeTree row
 * per tenant in `tenant_edge_settings` (migration 0006), read with FINAL. The
 * edges read them all with the key table on every refresh and carry them in
 * memory; only the admin API reads one. A tenant with no row has the defaults.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import {
  DEFAULT_TENANT_SETTINGS,
  type QueryCaps,
  TenantSettingsSchema,
  type TenantSettings,
  type TenantSettingsPatch,
} from '../../schemas/tenant-settings.ts';
import type { KeySnapshot } from '../auth/key-table.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';

interface Row {
  tenant_id: string;
  ip_policy: string;
  pii_drop: string[];
  pii_hash: string[];
  scrub_pii: number;
  bot_policy: string;
  consent_policy: string;
  dnt_policy: string;
  revoke_on_plain_http: number;
  rate_events_per_sec: number | string;
  rate_burst: number | string;
  query_max_concurrent: number | string;
  query_timeout_seconds: number | string;
  query_max_rows_to_read: number | string;
  query_per_minute: number | string;
}

const COLUMNS =
  'tenant_id, ip_policy, pii_drop, pii_hash, scrub_pii, bot_policy, consent_policy, dnt_policy, revoke_on_plain_http, rate_events_per_sec, rate_burst, ' +
  'query_max_concurrent, query_timeout_seconds, query_max_rows_to_read, query_per_minute';

/** Query caps in columns (migration 0008): 0 = not set; nothing set = null (the node's limits). */
function queryCapsFromRow(r: Row): QueryCaps | null {
  const caps: QueryCaps = {};
  const put = (k: keyof QueryCaps, v: number | string) => {
    if (Number(v) > 0) caps[k] = Number(v);
  };
  put('maxConcurrent', r.query_max_concurrent);
  put('timeoutSeconds', r.query_timeout_seconds);
  put('maxRowsToRead', r.query_max_rows_to_read);
  put('queriesPerMinute', r.query_per_minute);
  return Object.keys(caps).length > 0 ? caps : null;
}

/** A stored row back to settings; a row that no longer validates (a hand edit) falls back to the defaults, field by field. */
export function settingsFromRow(r: Row): TenantSettings {
  const burst = Number(r.rate_burst);
  const candidate = {
    ipPolicy: r.ip_policy,
    piiDrop: r.pii_drop,
    piiHash: r.pii_hash,
    scrubPii: Number(r.scrub_pii) === 1,
    botPolicy: r.bot_policy,
    consentPolicy: r.consent_policy,
    dntPolicy: r.dnt_policy,
    revokeOnPlainHttp: Number(r.revoke_on_plain_http) === 1,
    rateLimit: burst > 0 ? { eventsPerSecond: Number(r.rate_events_per_sec), burst } : null,
    query: queryCapsFromRow(r),
  };
  const parsed = TenantSettingsSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const out: Record<string, unknown> = { ...DEFAULT_TENANT_SETTINGS };
  for (const [k, v] of Object.entries(candidate)) {
    const one = TenantSettingsSchema.shape[k as keyof TenantSettings].safeParse(v);
    if (one.success) out[k] = one.data;
  }
  return out as TenantSettings;
}

function rowFrom(tenantId: string, s: TenantSettings, version: number): Record<string, unknown> {
  return {
    tenant_id: tenantId,
    ip_policy: s.ipPolicy,
    pii_drop: s.piiDrop,
    pii_hash: s.piiHash,
    scrub_pii: s.scrubPii ? 1 : 0,
    bot_policy: s.botPolicy,
    consent_policy: s.consentPolicy,
    dnt_policy: s.dntPolicy,
    revoke_on_plain_http: s.revokeOnPlainHttp ? 1 : 0,
    rate_events_per_sec: s.rateLimit?.eventsPerSecond ?? 0,
    rate_burst: s.rateLimit?.burst ?? 0,
    query_max_concurrent: s.query?.maxConcurrent ?? 0,
    query_timeout_seconds: s.query?.timeoutSeconds ?? 0,
    query_max_rows_to_read: s.query?.maxRowsToRead ?? 0,
    query_per_minute: s.query?.queriesPerMinute ?? 0,
    updated_at: toClickHouseTime(new Date()),
    version,
  };
}

/** Microsecond clock, as the control plane's versions: two changes in one millisecond still order. */
function nextVersion(): number {
  return Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
}

export class EdgeSettingsStore {
  constructor(private readonly wh: Warehouse) {}

  async get(tenantId: string): Promise<TenantSettings> {
    const rows = await this.wh.query<Row>(`SELECT ${COLUMNS} FROM tenant_edge_settings FINAL WHERE tenant_id = {t:String}`, {
      params: { t: tenantId },
      timeoutMs: 10_000,
    });
    return rows[0] ? settingsFromRow(rows[0]) : { ...DEFAULT_TENANT_SETTINGS };
  }

  /** Applies a validated patch on top of the current settings and stores the result. */
  async update(tenantId: string, patch: TenantSettingsPatch): Promise<TenantSettings> {
    const current = await this.get(tenantId);
    const next = TenantSettingsSchema.parse({ ...current, ...patch });
    // Paths are a set: sorted and unique, so a repeated CLI flag changes nothing.
    next.piiDrop = [...new Set(next.piiDrop)].sort();
    next.piiHash = [...new Set(next.piiHash)].sort();
    // `{}` sets nothing: stored and read back as null, the node's limits.
    if (next.query && Object.keys(next.query).length === 0) next.query = null;
    await this.wh.insertJson('tenant_edge_settings', Buffer.from(jsonRow(rowFrom(tenantId, next, nextVersion()))));
    return next;
  }

  async all(): Promise<Map<string, TenantSettings>> {
    const rows = await this.wh.query<Row>(`SELECT ${COLUMNS} FROM tenant_edge_settings FINAL`, { timeoutMs: 10_000 });
    return new Map(rows.map((r) => [r.tenant_id, settingsFromRow(r)]));
  }

  /** The key table's snapshot with every tenant's settings attached (the defaults where none are stored). */
  async attach(snapshot: KeySnapshot): Promise<KeySnapshot> {
    const all = await this.all();
    return { ...snapshot, tenants: snapshot.tenants.map((t) => ({ ...t, settings: all.get(t.id) ?? DEFAULT_TENANT_SETTINGS })) };
  }
}
