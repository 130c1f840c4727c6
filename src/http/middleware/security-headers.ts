/**
 * Security headers on every response. Hono's own secureHeaders middleware
 * sets the same set helmet does (HSTS, nosniff, frame options, referrer
 * policy, COOP/CORP…) without wrapping the Node listener, so it also applies
 * to in-process app.request() tests. API responses are JSON that must never
 * be cached, rendered or framed: no-store and a CSP that allows nothing.
 */
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Env } from '../types.ts';

export function apiSecurityHeaders(): MiddlewareHandler<Env>[] {
  const base = secureHeaders({
    strictTransportSecurity: 'max-age=63072000; includeSubDomains',
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    crossOriginResourcePolicy: 'cross-origin',
    // A route that sets its own policy keeps it: the dashboard page serves
    // HTML with `default-src 'self'`; every JSON response gets `'none'`.
    overwrite: false,
  });
  return [
    base,
    async function noStore(c, next) {
      await next();
      // Public static files (the SDK script under /sdk) set their own caching.
      // On the response's own headers, as secureHeaders does: c.header() on a finished
      // response rebuilds it (a Response and a body stream per request, ~5 % of a single event's CPU).
      const headers = c.res.headers;
      if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
    },
  ];
}
