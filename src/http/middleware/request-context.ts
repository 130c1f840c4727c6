/**
 * Gives every request a server-generated id (a client-supplied X-Request-Id is
 * untrusted and never used), resolves the client IP, and writes one access
 * log line with metadata only: the route pattern (never the raw URL, which is
 * untrusted), status, duration, tenant and key.
 *
 * The line is at info for every admin request and every refused or failed
 * one (what an operator looks for), and at debug for a successful API call:
 * at 50k requests/s one info line each was the largest single cost of the
 * ingest path after TLS, and the per-route metrics already count them all.
 */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { fixedFieldsLogger, type Logger } from '../../log/index.ts';
import type { ClientIpResolver } from '../client-ip.ts';
import type { Env } from '../types.ts';
import { nodeResponse, requestHeader } from '../request-headers.ts';

export function requestContext(o: { logger: Logger; clientIp: ClientIpResolver; listener: 'api' | 'admin' }): MiddlewareHandler<Env> {
  const access = fixedFieldsLogger(o.logger);
  return async function requestContext(c, next) {
    const started = performance.now();
    const requestId = randomUUID();
    c.set('requestId', requestId);
    c.set('clientIp', o.clientIp(c.env?.incoming?.socket?.remoteAddress, requestHeader(c, 'x-forwarded-for')));
    // On the Node response when there is one: a header set through Hono makes
    // @hono/node-server build an undici Headers for every response (see security-headers.ts).
    const out = nodeResponse(c);
    if (out) out.setHeader('X-Request-Id', requestId);
    else c.header('X-Request-Id', requestId);
    await next();
    const status = c.res.status;
    const level = o.listener === 'admin' || status >= 400 ? 'info' : 'debug';
    if (!access.isLevelEnabled(level)) return;
    const principal = c.get('principal');
    access[level](
      {
        requestId,
        listener: o.listener,
        method: c.req.method,
        route: c.req.routePath,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        tenantId: principal?.tenantId,
        keyId: principal?.keyId,
      },
      'request',
    );
  };
}
