/**
 * Support access grants: a tenant (with its query key) lets Palisade's
 * operators read its data for a bounded time, at most 21 days, and can revoke
 * that at any time. Operators have no other way to read a tenant's events
 * through Palisade. Liveness is read from the table on every check (no cache)
 * so a revocation takes effect on the very next operator query, on every edge.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { randomBase62 } from '../auth/base62.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';
import { isoFromClickHouse } from './control-plane.ts';

export const MAX_GRANT_MS = 21 * 86_400_000;
const GRANT_ID = /^grt_[0-9A-Za-z]{16}$/;

export interface SupportGrant {
  id: string;
  tenantId: string;
  createdBy: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokedBy: string | null;
  live: boolean;
}

interface Row {
  id: string;
  tenant_id: string;
  created_by: string;
  reason: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_by: string;
  live?: number;
}

/** `90s`, `30m`, `8h`, `7d` → milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d{1,7})(s|m|h|d)$/.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

function grantOf(r: Row): SupportGrant {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    createdBy: r.created_by,
    reason: r.reason,
    createdAt: isoFromClickHouse(r.created_at),
    expiresAt: isoFromClickHouse(r.expires_at),
    revokedAt: r.revoked_at ? isoFromClickHouse(r.revoked_at) : null,
    revokedBy: r.revoked_by || null,
    live: r.live === 1,
  };
}

function version(): number {
  return Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
}

const SELECT = `SELECT id, tenant_id, created_by, reason, created_at, expires_at, revoked_at, revoked_by,
  (revoked_at IS NULL AND expires_at > now64(3)) AS live FROM support_grants FINAL`;

export class SupportGrants {
  constructor(private readonly wh: Warehouse) {}

  async create(tenantId: string, createdBy: string, durationMs: number, reason: string): Promise<SupportGrant> {
    if (!Number.isInteger(durationMs) || durationMs < 1_000 || durationMs > MAX_GRANT_MS) {
      throw new AppError(ErrorCode.INVALID_BODY, 'duration: between 1s and 21d (e.g. "8h", "7d")');
    }
    const now = new Date();
    const row: Row = {
      id: `grt_${randomBase62(16)}`,
      tenant_id: tenantId,
      created_by: createdBy,
      reason,
      created_at: toClickHouseTime(now),
      expires_at: toClickHouseTime(new Date(now.getTime() + durationMs)),
      revoked_at: null,
      revoked_by: '',
    };
    await this.wh.insertJson('support_grants', Buffer.from(jsonRow({ ...row, version: version() })));
    return { ...grantOf(row), live: true };
  }

  async list(tenantId: string): Promise<SupportGrant[]> {
    const rows = await this.wh.query<Row>(`${SELECT} WHERE tenant_id = {t:String} ORDER BY created_at DESC, id LIMIT 1000`, { params: { t: tenantId } });
    return rows.map(grantOf);
  }

  private async one(tenantId: string, id: string): Promise<Row> {
    if (!GRANT_ID.test(id)) throw new AppError(ErrorCode.NOT_FOUND, 'no such grant');
    // Scoped by tenant: another tenant's grant id is simply not found.
    const rows = await this.wh.query<Row>(`${SELECT} WHERE tenant_id = {t:String} AND id = {id:String}`, { params: { t: tenantId, id } });
    const r = rows[0];
    if (!r) throw new AppError(ErrorCode.NOT_FOUND, 'no such grant');
    return r;
  }

  async revoke(tenantId: string, id: string, revokedBy: string): Promise<SupportGrant> {
    const r = await this.one(tenantId, id);
    if (r.revoked_at) return grantOf(r);
    const revoked: Row = { ...r, revoked_at: toClickHouseTime(new Date()), revoked_by: revokedBy };
    delete revoked.live;
    await this.wh.insertJson('support_grants', Buffer.from(jsonRow({ ...revoked, version: version() })));
    return { ...grantOf(revoked), live: false };
  }

  /** The grant that lets an operator read this tenant's data right now, if any. */
  async live(tenantId: string): Promise<SupportGrant | undefined> {
    const rows = await this.wh.query<Row>(`${SELECT} WHERE tenant_id = {t:String} AND live ORDER BY expires_at DESC LIMIT 1`, { params: { t: tenantId } });
    return rows[0] ? grantOf(rows[0]) : undefined;
  }
}
