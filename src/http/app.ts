/**
 * The two Hono apps: the public API (ingestion, health) and the admin API.
 * Only src/http imports Hono; everything here is handed in already built.
 */
import { Hono } from 'hono';
import type { Logger } from '../log/index.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { clientIpResolver } from './client-ip.ts';
import { notFound, onError } from './errors.ts';
import { requestContext } from './middleware/request-context.ts';
import { apiSecurityHeaders } from './middleware/security-headers.ts';
import { adminRoutes, type AdminRouteDeps } from './routes/admin.ts';
import { ingestRoutes, type IngestRouteDeps } from './routes/ingest.ts';
import type { Env } from './types.ts';

export interface AppDeps {
  logger: Logger;
  trustedProxies: string[];
  ingest: IngestRouteDeps;
  admin: AdminRouteDeps;
  /** Readiness: can this edge accept and deliver events right now? */
  ready: () => Promise<{ ready: boolean; checks: Record<string, unknown> }>;
}

function base(deps: AppDeps, listener: 'api' | 'admin'): Hono<Env> {
  const app = new Hono<Env>();
  app.use('*', requestContext({ logger: deps.logger, clientIp: clientIpResolver(deps.trustedProxies), listener }));
  for (const mw of apiSecurityHeaders()) app.use('*', mw);
  app.onError(onError(deps.logger));
  app.notFound(notFound);
  return app;
}

export function createApiApp(deps: AppDeps): Hono<Env> {
  const app = base(deps, 'api');
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const r = await deps.ready();
    return c.json({ status: r.ready ? 'ready' : 'degraded', checks: r.checks }, r.ready ? 200 : 503);
  });
  app.route('/', ingestRoutes(deps.ingest));
  // Anything else under /v1 with another method is a clear 405, not a 404.
  app.all('/v1/*', () => {
    throw new AppError(ErrorCode.METHOD_NOT_ALLOWED, 'method not allowed');
  });
  return app;
}

export function createAdminApp(deps: AppDeps): Hono<Env> {
  const app = base(deps, 'admin');
  app.route('/', adminRoutes(deps.admin));
  return app;
}
