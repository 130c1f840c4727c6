/**
 * CORS for every route of the API listener, in one place. Two policies:
 *   - ingestion (`/v1/batch`, `/v1/track`, …): any origin some tenant allows
 *     may read the answer (refusals included, or the browser SDK cannot tell
 *     "stop" from "retry after N s"); whether the key may be used from that
 *     origin is the browser-origin middleware's call, after authentication;
 *   - the query API: the server's own origin and the dashboard origins;
 *     any other Origin is refused outright (403), not merely left unreadable.
 * Hono's own `cors` middleware would do most of this, but it joins header
 * lists without the space our clients and tests read, adds
 * `Vary: Access-Control-Request-Headers` and cannot refuse an origin with
 * our error body, so the three header sets are written here, once.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

/** Makes the response readable by `origin` ('*' for a public asset: no Vary, nothing exposed). */
export function allowOrigin(c: Context<Env>, origin: string, exposeHeaders?: string): void {
  c.header('Access-Control-Allow-Origin', origin);
  if (origin === '*') return;
  if (exposeHeaders) c.header('Access-Control-Expose-Headers', exposeHeaders);
  c.header('Vary', 'Origin');
}

export interface CorsOptions {
  /** May `origin` read this route's answers? */
  origin: (origin: string, c: Context<Env>) => boolean;
  exposeHeaders: string;
  /** The refusal for an origin that may not: undefined lets the request on without CORS headers. */
  refuse?: (origin: string | undefined) => AppError;
  /** What a preflight (OPTIONS with an Origin the policy allows) is answered with. */
  preflight: { allowMethods: string; allowHeaders: string; maxAgeSeconds: number };
}

export function cors(o: CorsOptions): MiddlewareHandler<Env> {
  const refused = (origin: string | undefined) => o.refuse?.(origin) ?? new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, 'origin not allowed');
  // A plain function returning next(), not an async one (see src/http/app.ts).
  return function cors(c, next) {
    const origin = requestHeader(c, 'origin');
    const allowed = origin !== undefined && o.origin(origin, c);
    if (c.req.method === 'OPTIONS') {
      if (!allowed) throw refused(origin);
      allowOrigin(c, origin, o.exposeHeaders);
      c.header('Access-Control-Allow-Methods', o.preflight.allowMethods);
      c.header('Access-Control-Allow-Headers', o.preflight.allowHeaders);
      c.header('Access-Control-Max-Age', String(o.preflight.maxAgeSeconds));
      return Promise.resolve(c.body(null, 204));
    }
    if (allowed) allowOrigin(c, origin, o.exposeHeaders);
    // Not a browser cross-origin call when there is no Origin: CORS does not apply.
    else if (origin !== undefined && o.refuse) throw o.refuse(origin);
    return next();
  };
}
