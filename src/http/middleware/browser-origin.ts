/**
 * After key authentication on the ingestion routes: a browser (publishable)
 * key is accepted only from its own tenant's allowed origins, and an accepted
 * request is readable only by its own tenant's origins (the CORS middleware
 * made it readable to every tenant's origins, so that refusals are).
 */
import type { MiddlewareHandler } from 'hono';
import type { KeyTable } from '../../auth/key-table.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import type { Env } from '../types.ts';
import { allowOrigin } from './cors.ts';
import { requestHeader } from '../request-headers.ts';

export function browserOrigin(o: { keys: Pick<KeyTable, 'tenant'>; exposeHeaders: string }): MiddlewareHandler<Env> {
  return function browserOrigin(c, next) {
    const principal = c.get('principal');
    const origin = requestHeader(c, 'origin');
    const tenant = principal && o.keys.tenant(principal.tenantId);
    const allowed = origin !== undefined && tenant !== undefined && tenant.allowedOrigins.includes(origin);
    if (principal?.scope === 'browser' && !allowed) {
      throw new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, "this browser key may only be used from its tenant's allowed origins");
    }
    if (allowed) allowOrigin(c, origin, o.exposeHeaders);
    // The CORS middleware set it early for a readable refusal; an accepted request is readable only by
    // its own tenant's origins. Without an Origin nothing was set, and a delete through Hono would build
    // a Headers for the response anyway (which @hono/node-server then converts back, per request).
    else if (origin !== undefined) c.header('Access-Control-Allow-Origin', undefined);
    return next();
  };
}
