/**
 * The edge's in-memory copy of every key and tenant, so no key lookup touches
 * the database on the hot path. It is replaced wholesale on each refresh
 * (every PALISADE_KEY_REFRESH_MS, 2 s by default) and immediately after a
 * local admin change, so a revocation reaches every edge within 5 s.
 */
import type { TenantSettings } from '../../schemas/tenant-settings.ts';
import type { Scope } from './tokens.ts';

export interface KeyRecord {
  id: string;
  tenantId: string;
  scope: Scope;
  secretHash: string;
  revoked: boolean;
}

export interface TenantRecord {
  id: string;
  name: string;
  allowedOrigins: string[];
  deleted: boolean;
  /** Edge settings (privacy rules, rate limit, plain-HTTP policy, query caps); absent means the defaults. */
  settings?: TenantSettings;
}

export interface KeySnapshot {
  keys: KeyRecord[];
  tenants: TenantRecord[];
}

export class KeyTable {
  private keys = new Map<string, KeyRecord>();
  private tenants = new Map<string, TenantRecord>();
  /** Union of every tenant's allowed origins: what a CORS preflight may be answered for. */
  private origins = new Set<string>();
  private loadedAt = 0;

  replace(snapshot: KeySnapshot): void {
    this.keys = new Map(snapshot.keys.map((k) => [k.id, k]));
    this.tenants = new Map(snapshot.tenants.map((t) => [t.id, t]));
    this.origins = new Set(snapshot.tenants.filter((t) => !t.deleted).flatMap((t) => t.allowedOrigins));
    this.loadedAt = Date.now();
  }

  key(id: string): KeyRecord | undefined {
    return this.keys.get(id);
  }

  tenant(id: string): TenantRecord | undefined {
    return this.tenants.get(id);
  }

  /** A key is usable only while it and its tenant are live. */
  activeKey(id: string): KeyRecord | undefined {
    const k = this.keys.get(id);
    if (!k || k.revoked) return undefined;
    const t = this.tenants.get(k.tenantId);
    if (!t || t.deleted) return undefined;
    return k;
  }

  isKnownOrigin(origin: string): boolean {
    return this.origins.has(origin);
  }

  get size(): number {
    return this.keys.size;
  }

  get ageMs(): number {
    return this.loadedAt === 0 ? Infinity : Date.now() - this.loadedAt;
  }
}
