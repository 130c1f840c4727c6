/**
 * Security headers on every response: the set Hono's secureHeaders sets
 * (helmet's: HSTS, nosniff, frame options, referrer policy, COOP/CORP…) with
 * the options below, plus no-store and a CSP that allows nothing, because API
 * responses are JSON that must never be cached, rendered or framed. A route
 * that sets one of these itself keeps its own (the dashboard page serves HTML
 * with `default-src 'self'`; the SDK script under /sdk sets its caching).
 *
 * Why not secureHeaders itself: it sets its headers on the finished
 * Response, which makes @hono/node-server turn every response's headers into
 * an undici `Headers` and back into an object (~5–10 % of a single event's
 * CPU). The headers never change, so on the Node server they go straight onto
 * the `ServerResponse` before the route runs: `writeHead` lets the route's own
 * headers win, as `overwrite: false` did. In-process (`app.request()`, no
 * Node response) they are added to the Response, as secureHeaders does.
 * security-headers.test.ts checks this list against secureHeaders' output.
 */
import type { MiddlewareHandler } from 'hono';
import type { secureHeaders } from 'hono/secure-headers';
import { nodeResponse } from '../request-headers.ts';
import type { Env } from '../types.ts';

type SecureHeadersOptions = NonNullable<Parameters<typeof secureHeaders>[0]>;

/** What `secureHeaders` sets with these options (the test compares), then no-store. */
export const SECURE_HEADERS_OPTIONS: SecureHeadersOptions = {
  strictTransportSecurity: 'max-age=63072000; includeSubDomains',
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  crossOriginResourcePolicy: 'cross-origin',
};

export const API_SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'cross-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=63072000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
  ['Cache-Control', 'no-store'],
];

export function apiSecurityHeaders(): MiddlewareHandler<Env> {
  return function securityHeaders(c, next) {
    const out = nodeResponse(c);
    if (out) {
      for (const [name, value] of API_SECURITY_HEADERS) out.setHeader(name, value);
      return next();
    }
    return next().then(() => {
      const headers = c.res.headers;
      for (const [name, value] of API_SECURITY_HEADERS) if (!headers.has(name)) headers.set(name, value);
    });
  };
}
