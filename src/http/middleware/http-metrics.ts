/**
 * Counts and times every response an app sends, including the ones
 * its error handler wrote (auth failures, 413, 429, 503 spool_full, 500):
 * Hono's compose hands a thrown error to onError inside `next()`, so this
 * outermost middleware sees the final status and the error in `c.error`.
 *
 * Labels stay bounded: the route is the pattern of the first method-specific
 * route that matched (`/v1/:path`, never the raw path, which is untrusted),
 * or `unmatched`; the credential kind comes from the authenticated principal
 * (or the admin token), never a tenant or key id.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { AuthFailure, type Principal } from '../../auth/authenticator.ts';
import { ErrorCode, isAppError } from '../../errors/index.ts';
import type { HttpObservation, KeyKind, Listener } from '../../metrics/stage-metrics.ts';
import type { Env } from '../types.ts';

export interface HttpMetricsSink {
  http(o: HttpObservation): void;
  authFailure(listener: Listener, reason: string): void;
}

const KIND: Record<Principal['scope'], KeyKind> = { ingest: 'secret', browser: 'publishable', query: 'query' };

/** Middleware (`app.use`) is registered with method ALL; a handler has its method. The 405 catch-all for /v1/* counts as unmatched. */
export function routeOf(c: Context<Env>): string {
  for (const r of matchedRoutes(c)) if (r.method !== 'ALL') return r.path;
  return 'unmatched';
}

function keyKindOf(c: Context<Env>): KeyKind {
  const p = c.get('principal');
  if (p) return KIND[p.scope];
  return c.get('adminAuthenticated') ? 'admin' : 'none';
}

/** The reason label of a refused authentication, from the error the handler threw (a fixed set). */
function authFailureReason(err: unknown, listener: Listener): string | undefined {
  if (err instanceof AuthFailure) return err.reason;
  if (!isAppError(err)) return undefined;
  if (err.code === ErrorCode.UNAUTHORIZED && listener === 'admin') return 'admin_token';
  if (err.code === ErrorCode.CREDENTIAL_IN_URL) return 'credential_in_url';
  return undefined;
}

export function httpMetrics(o: { listener: Listener; sink: HttpMetricsSink }): MiddlewareHandler<Env> {
  return async function httpMetrics(c, next) {
    const started = performance.now();
    let status: number | undefined;
    try {
      await next();
      status = c.res.status;
    } finally {
      // A throw past the app's own error handler: @hono/node-server answers 500.
      const s = status ?? 500;
      o.sink.http({ listener: o.listener, route: routeOf(c), status: s, keyKind: keyKindOf(c), seconds: (performance.now() - started) / 1000 });
      const reason = authFailureReason(c.error, o.listener);
      if (reason) o.sink.authFailure(o.listener, reason);
    }
  };
}
