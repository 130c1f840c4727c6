/**
 * Tenants and keys, stored in small ClickHouse tables (ReplacingMergeTree,
 * read with FINAL). A change writes a new version of the row; nothing is
 * updated in place. Secrets leave this module only once, in the return value
 * of a create call, and are stored only as argon2id hashes.
 */
import { AppError, ErrorCode } from '../errors/index.ts';
import { Authenticator } from '../auth/authenticator.ts';
import { newTenantId } from './tenant-id.ts';
import type { KeySnapshot } from '../auth/key-table.ts';
import { newKeyId, newSecretToken, publishableKey, SCOPES, type Scope } from '../auth/tokens.ts';
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';
import { storageName, systemParts } from '../storage/cluster-sql.ts';

export interface Tenant {
  id: string;
  name: string;
  allowedOrigins: string[];
  createdAt: string;
  updatedAt: string;
}

export interface KeyInfo {
  id: string;
  tenantId: string;
  scope: Scope;
  createdAt: string;
  revokedAt: string | null;
}

export interface TenantStats {
  events: number;
  lastEventAt: string | null;
  bytesOnDisk: number;
}

interface TenantRow {
  id: string;
  name: string;
  allowed_origins: string[];
  created_at: string;
  updated_at: string;
  deleted: number;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  scope: string;
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
}

/** ClickHouse prints `2026-11-24 10:00:00.123`; the API speaks ISO-8601. */
export function isoFromClickHouse(v: string): string {
  return `${v.replace(' ', 'T')}Z`;
}

function tenantFromRow(r: TenantRow): Tenant {
  return {
    id: r.id,
    name: r.name,
    allowedOrigins: r.allowed_origins,
    createdAt: isoFromClickHouse(r.created_at),
    updatedAt: isoFromClickHouse(r.updated_at),
  };
}

function keyFromRow(r: KeyRow): KeyInfo {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    scope: r.scope as Scope,
    createdAt: isoFromClickHouse(r.created_at),
    revokedAt: r.revoked_at ? isoFromClickHouse(r.revoked_at) : null,
  };
}

/** Versions are microsecond clocks so two changes in one millisecond still order. */
function nextVersion(): number {
  return Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
}

export class ControlPlane {
  constructor(private readonly wh: Warehouse) {}

  async createTenant(name: string, allowedOrigins: string[] = []): Promise<Tenant> {
    const now = toClickHouseTime(new Date());
    const row = {
      id: newTenantId(),
      name,
      allowed_origins: allowedOrigins,
      created_at: now,
      updated_at: now,
      deleted: 0,
      version: nextVersion(),
    };
    await this.wh.insertJson('tenants', Buffer.from(jsonRow(row)));
    return tenantFromRow(row);
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.wh.query<TenantRow>(
      'SELECT id, name, allowed_origins, created_at, updated_at, deleted FROM tenants FINAL WHERE deleted = 0 ORDER BY created_at, id',
    );
    return rows.map(tenantFromRow);
  }

  async getTenant(id: string): Promise<Tenant> {
    const rows = await this.wh.query<TenantRow>(
      'SELECT id, name, allowed_origins, created_at, updated_at, deleted FROM tenants FINAL WHERE id = {id:String} AND deleted = 0',
      { params: { id } },
    );
    const row = rows[0];
    if (!row) throw new AppError(ErrorCode.NOT_FOUND, 'no such tenant');
    return tenantFromRow(row);
  }

  async updateTenant(id: string, change: { name?: string; addOrigins?: string[]; removeOrigins?: string[] }): Promise<Tenant> {
    const current = await this.getTenant(id);
    const origins = new Set(current.allowedOrigins);
    for (const o of change.addOrigins ?? []) origins.add(o);
    for (const o of change.removeOrigins ?? []) origins.delete(o);
    const row = {
      id,
      name: change.name ?? current.name,
      allowed_origins: [...origins].sort(),
      created_at: current.createdAt.replace('T', ' ').replace('Z', ''),
      updated_at: toClickHouseTime(new Date()),
      deleted: 0,
      version: nextVersion(),
    };
    await this.wh.insertJson('tenants', Buffer.from(jsonRow(row)));
    return tenantFromRow(row);
  }

  /** Marks a tenant deleted (a new row version): its keys stop working on every edge at the next key refresh. */
  async markDeleted(id: string): Promise<void> {
    const current = await this.getTenant(id);
    const row = {
      id,
      name: current.name,
      allowed_origins: current.allowedOrigins,
      created_at: current.createdAt.replace('T', ' ').replace('Z', ''),
      updated_at: toClickHouseTime(new Date()),
      deleted: 1,
      version: nextVersion(),
    };
    await this.wh.insertJson('tenants', Buffer.from(jsonRow(row)));
  }

  /** Creates a key; the returned token is the only time the secret exists outside a hash. */
  async createKey(tenantId: string, scope: Scope): Promise<{ key: KeyInfo; token: string }> {
    if (!SCOPES.includes(scope)) throw new AppError(ErrorCode.BAD_REQUEST, 'scope must be ingest, browser or query');
    await this.getTenant(tenantId);
    const id = newKeyId();
    let token: string;
    let secretHash = '';
    if (scope === 'browser') {
      token = publishableKey(id);
    } else {
      const t = newSecretToken(id);
      token = t.token;
      secretHash = await Authenticator.hashSecret(t.secret);
    }
    const row = {
      id,
      tenant_id: tenantId,
      scope,
      secret_hash: secretHash,
      created_at: toClickHouseTime(new Date()),
      revoked_at: null,
      version: nextVersion(),
    };
    await this.wh.insertJson('api_keys', Buffer.from(jsonRow(row)));
    return { key: keyFromRow(row), token };
  }

  async listKeys(tenantId: string): Promise<KeyInfo[]> {
    const rows = await this.wh.query<KeyRow>(
      'SELECT id, tenant_id, scope, secret_hash, created_at, revoked_at FROM api_keys FINAL WHERE tenant_id = {t:String} ORDER BY created_at, id',
      { params: { t: tenantId } },
    );
    return rows.map(keyFromRow);
  }

  async revokeKey(keyId: string): Promise<KeyInfo> {
    const rows = await this.wh.query<KeyRow & { version: string }>(
      'SELECT id, tenant_id, scope, secret_hash, created_at, revoked_at FROM api_keys FINAL WHERE id = {id:String}',
      { params: { id: keyId } },
    );
    const row = rows[0];
    if (!row) throw new AppError(ErrorCode.NOT_FOUND, 'no such key');
    if (row.revoked_at) return keyFromRow(row);
    const revoked = { ...row, revoked_at: toClickHouseTime(new Date()), version: nextVersion() };
    await this.wh.insertJson('api_keys', Buffer.from(jsonRow(revoked)));
    return keyFromRow(revoked);
  }

  /**
   * A stamp of `tables`: their active parts. Every change to a tenant, a key
   * or a tenant's edge settings inserts a row, so a part (a mutation or a
   * dropped partition changes parts too, and so does a merge, at the cost of
   * one needless reload); an unchanged stamp means a snapshot would read what
   * the last one did. It reads the engine's part list, not the rows: at
   * 11,000 tenants ~12–26 ms of engine CPU, where a snapshot costs ~120–240
   * ms, most of it parsing on the request thread. These
   * tables are replicated to every node of a cluster, so the local part list
   * is the one the snapshot reads from.
   */
  async changeStamp(tables: readonly string[]): Promise<string> {
    const [r] = await this.wh.query<{ stamp: string }>(
      `SELECT concat(toString(count()), '/', toString(sum(cityHash64(table, name)))) AS stamp
       FROM system.parts WHERE database = currentDatabase() AND table IN {tables:Array(String)} AND active`,
      { params: { tables: [...tables] }, timeoutMs: 10_000 },
    );
    return r?.stamp ?? '';
  }

  /** Everything an edge needs to authenticate, in one read. */
  async snapshot(): Promise<KeySnapshot> {
    const [keys, tenants] = await Promise.all([
      this.wh.query<KeyRow>('SELECT id, tenant_id, scope, secret_hash, created_at, revoked_at FROM api_keys FINAL', { timeoutMs: 10_000 }),
      this.wh.query<TenantRow>('SELECT id, name, allowed_origins, created_at, updated_at, deleted FROM tenants FINAL', { timeoutMs: 10_000 }),
    ]);
    return {
      keys: keys.map((k) => ({
        id: k.id,
        tenantId: k.tenant_id,
        scope: k.scope as Scope,
        secretHash: k.secret_hash,
        revoked: k.revoked_at !== null,
      })),
      tenants: tenants.map((t) => ({ id: t.id, name: t.name, allowedOrigins: t.allowed_origins, deleted: t.deleted === 1 })),
    };
  }

  /** Operational metadata only: counts and sizes, never event contents. */
  async tenantStats(tenantId: string): Promise<TenantStats> {
    await this.getTenant(tenantId);
    const [counts, parts] = await Promise.all([
      this.wh.query<{ events: string; last: string | null }>(
        // uniqExact: an event counts once even before ReplacingMergeTree folds a retried copy.
        'SELECT uniqExact(message_id) AS events, if(count() = 0, NULL, max(received_at)) AS last FROM events WHERE tenant_id = {t:String}',
        { params: { t: tenantId } },
      ),
      this.wh.query<{ bytes: string }>(
        // Partitions of the events table are (tenant_id, month): a tenant's parts are exactly those whose partition starts with its id.
        // On a cluster: one replica per shard (the tenant's shard), not the sum over its replicas.
        `SELECT sum(bytes_on_disk) AS bytes FROM ${systemParts(this.wh, 'one')}
         WHERE database = {db:String} AND table = {tbl:String} AND active AND startsWith(partition, concat('(''', {t:String}, ''','))`,
        { params: { t: tenantId, db: this.wh.database, tbl: storageName(this.wh, 'events') } },
      ),
    ]);
    const c = counts[0];
    return {
      events: Number(c?.events ?? 0),
      lastEventAt: c?.last ? isoFromClickHouse(c.last) : null,
      bytesOnDisk: Number(parts[0]?.bytes ?? 0),
    };
  }
}
