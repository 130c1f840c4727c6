/**
 * Where the HTTP layer feeds the audit log:
 * - failed authentications, noted where every route's errors end up (the
 *   app's error handler), aggregated per IP, key and minute by the audit log
 *   so a flood costs a Map lookup per request, not a row;
 * - every admin request that changes something, recorded (durably) after the
 *   handler ran, with the ids from its response: never its body, which may
 *   carry a key's one-time token. Handlers that record a richer entry
 *   themselves set `audited` so this does not record a second one.
 */
import { createHash } from 'node:crypto';
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { AuthFailure, type Principal } from '../auth/authenticator.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { TENANT_ID_SOURCE } from '../control/tenant-id.ts';
import { ErrorCode, isAppError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Env } from './types.ts';

/** The admin token's public handle in the trail: a digest prefix, never the token. */
export function adminActor(token: string): string {
  return `admin:adm_${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

export function keyActor(p: Principal): string {
  return `key:${p.keyId}`;
}

export function ctxOf(c: Context<Env>, actor: string): { actor: string; clientIp: string; requestId: string } {
  return { actor, clientIp: c.get('clientIp'), requestId: c.get('requestId') };
}

export function auditingOnError(
  inner: ErrorHandler<Env>,
  o: { audit: Pick<AuditLog, 'noteAuthFailure'>; tenantOfKey: (keyId: string) => string | undefined },
): ErrorHandler<Env> {
  return function onError(err, c) {
    const listener = c.req.path.startsWith('/admin') ? 'admin' : 'api';
    if (err instanceof AuthFailure) {
      o.audit.noteAuthFailure({
        ip: c.get('clientIp') ?? '',
        keyId: err.keyId,
        tenantId: err.keyId ? o.tenantOfKey(err.keyId) : undefined,
        reason: err.reason,
        listener,
        requestId: c.get('requestId') ?? '',
      });
    } else if (isAppError(err) && err.code === ErrorCode.UNAUTHORIZED && listener === 'admin') {
      o.audit.noteAuthFailure({ ip: c.get('clientIp') ?? '', reason: 'admin_token', listener, requestId: c.get('requestId') ?? '' });
    } else if (isAppError(err) && err.code === ErrorCode.CREDENTIAL_IN_URL) {
      // A key in a URL is treated as leaked: refused, and on the record.
      o.audit.noteAuthFailure({ ip: c.get('clientIp') ?? '', reason: 'credential_in_url', listener, requestId: c.get('requestId') ?? '' });
    }
    return inner(err, c);
  };
}

const ACTIONS: Record<string, string> = {
  'POST /admin/tenants': 'tenant.create',
  'PATCH /admin/tenants/:id': 'tenant.update',
  'POST /admin/tenants/:id/keys': 'key.create',
  'DELETE /admin/keys/:keyId': 'key.revoke',
};

interface Ids {
  tenantId?: string;
  target?: string;
  details: Record<string, unknown>;
}

/** Ids only, picked from known shapes of admin responses. */
async function idsFrom(res: Response): Promise<Ids> {
  if (!(res.headers.get('content-type') ?? '').includes('application/json')) return { details: {} };
  let body: unknown;
  try {
    body = await res.clone().json();
  } catch {
    return { details: {} };
  }
  const b = (body ?? {}) as { tenant?: { id?: unknown; name?: unknown }; key?: { id?: unknown; tenantId?: unknown; scope?: unknown } };
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (b.key) return { tenantId: str(b.key.tenantId), target: str(b.key.id), details: { scope: str(b.key.scope) ?? null } };
  if (b.tenant) return { tenantId: str(b.tenant.id), target: str(b.tenant.id), details: { name: str(b.tenant.name) ?? null } };
  return { details: {} };
}

const ADMIN_TENANT_PATH = new RegExp(`^/admin/tenants/(${TENANT_ID_SOURCE})`);

export function auditAdminActions(o: { audit: Pick<AuditLog, 'recordDurable'>; actor: string; logger: Logger }): MiddlewareHandler<Env> {
  return async function auditAdminActions(c, next) {
    await next();
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || c.get('audited')) return;
    const status = c.res.status;
    // A refused admin token is an authentication failure, noted by the error handler.
    if (status === 401) return;
    const route = c.req.routePath;
    const ids = status < 400 ? await idsFrom(c.res) : { details: {} };
    const pathTenant = ADMIN_TENANT_PATH.exec(c.req.path)?.[1];
    try {
      await o.audit.recordDurable({
        ...ctxOf(c, o.actor),
        tenantId: ids.tenantId ?? pathTenant,
        action: ACTIONS[`${method} ${route}`] ?? `admin.${method.toLowerCase()}`,
        target: ids.target ?? pathTenant ?? '',
        outcome: status < 400 ? 'ok' : status === 403 ? 'denied' : 'failed',
        details: { ...ids.details, route, status },
      });
    } catch (err) {
      // The change is made; its entry stays buffered and is written when ClickHouse answers again.
      o.logger.error({ requestId: c.get('requestId'), errName: (err as Error).name }, 'admin action not yet in the audit log');
    }
  };
}
