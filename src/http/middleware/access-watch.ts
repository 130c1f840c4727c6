/**
 * Feeds the access anomaly watch (src/anomaly/watch.ts) from the API
 * listener, after each request has been answered: the same facts the audit
 * trail records, read from what the request left on its context.
 *   - an AuthFailure (from the route or from the per-IP throttle) → a failed
 *     authentication, with the key id only when that key exists;
 *   - a principal → a successful authentication (client IP as resolved from
 *     trusted proxies, country from the trusted proxy's header, whether a
 *     browser sent it), then, for a publishable key refused for its origin,
 *     a foreign-origin refusal, and for a query key on /v1/query, a query call.
 * It runs after the response is built, does O(1) work, and never throws: a
 * fault in the watch must not turn into a failed request.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AuthFailure, type AuthFailureReason } from '../../auth/authenticator.ts';
import type { KeyTable } from '../../auth/key-table.ts';
import type { AccessWatch } from '../../anomaly/watch.ts';
import { ErrorCode, isAppError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { countryResolver } from '../client-ip.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

/** Failures that say "someone is trying credentials" (edge-limits.ts counts the same ones): not a missing header, not our overload. */
const GUESSING = new Set<AuthFailureReason>(['malformed', 'bad_checksum', 'unknown_key', 'wrong_secret', 'revoked', 'throttled']);

export interface AccessWatchDeps {
  watch: AccessWatch;
  keys: Pick<KeyTable, 'key' | 'tenant'>;
  trustedProxies: string[];
  /** Lower-case name of the header a trusted proxy puts the client's country in (PALISADE_COUNTRY_HEADER). */
  countryHeader?: string;
  logger: Logger;
}

/** An Origin fit for an audit entry: a real origin, short. Anything else is not repeated. */
function cleanOrigin(o: string | undefined): string | undefined {
  if (!o || o.length > 200) return undefined;
  try {
    return new URL(o).origin === o ? o : undefined;
  } catch {
    return undefined;
  }
}

export function accessWatch(d: AccessWatchDeps): MiddlewareHandler<Env> {
  const country = countryResolver(d.trustedProxies);
  let faultLogged = false;

  function observe(c: Context<Env>): void {
    const ip = c.get('clientIp') ?? '';
    const requestId = c.get('requestId') ?? '';
    const err = c.error;
    if (err instanceof AuthFailure) {
      if (!GUESSING.has(err.reason)) return;
      d.watch.authFailed({ ip, keyId: err.keyId && d.keys.key(err.keyId) ? err.keyId : undefined });
      return;
    }
    const p = c.get('principal');
    if (!p) return;
    const origin = requestHeader(c, 'origin');
    // Browsers send Origin on every POST and Sec-Fetch-Site on every request; page scripts cannot remove
    // either. Not Sec-Fetch-Mode: Node's own fetch sends that one from servers.
    const fromBrowser = origin !== undefined || requestHeader(c, 'sec-fetch-site') !== undefined;
    const suspicious = fromBrowser && p.scope === 'ingest';
    d.watch.authenticated({
      keyId: p.keyId,
      tenantId: p.tenantId,
      scope: p.scope,
      ip,
      country: d.countryHeader ? country(c.env?.incoming?.socket?.remoteAddress, requestHeader(c, d.countryHeader.toLowerCase())) : undefined,
      fromBrowser,
      originAllowed: suspicious && origin !== undefined ? (d.keys.tenant(p.tenantId)?.allowedOrigins.includes(origin) ?? false) : false,
      origin: suspicious ? cleanOrigin(origin) : undefined,
      requestId,
    });
    if (p.scope === 'browser' && isAppError(err) && err.code === ErrorCode.ORIGIN_NOT_ALLOWED) {
      d.watch.originRefused({ keyId: p.keyId, tenantId: p.tenantId, ip, origin: cleanOrigin(origin), requestId });
    }
    if (p.scope === 'query' && c.req.path.startsWith('/v1/query')) d.watch.queried({ tenantId: p.tenantId, keyId: p.keyId, ip, requestId });
  }

  return async function accessWatch(c, next) {
    await next();
    try {
      observe(c);
    } catch (err) {
      if (!faultLogged) d.logger.error({ errName: (err as Error).name }, 'access anomaly watch failed on a request; the request was answered');
      faultLogged = true;
    }
  };
}
