/**
 * The two Hono apps: the public API (ingestion, health) and the admin API.
 * Only src/http imports Hono; everything here is handed in already built.
 */
import { Hono } from 'hono';
import type { Logger } from '../log/index.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { auditAdminActions, auditingOnError } from './audit-hooks.ts';
import { clientIpResolver } from './client-ip.ts';
import { notFound, onError } from './errors.ts';
import { memoRouter } from './router.ts';
import { requestContext } from './middleware/request-context.ts';
import { apiSecurityHeaders } from './middleware/security-headers.ts';
import { adminRoutes, type AdminRouteDeps } from './routes/admin.ts';
import { auditBackupAdminRoutes } from './routes/audit-backup-admin.ts';
import type { GovernanceDeps } from './routes/governance-common.ts';
import { tenantDataAdminRoutes } from './routes/tenant-data-admin.ts';
import { tenantSelfRoutes } from './routes/tenant-self.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { ingestRoutes, type IngestRouteDeps } from './routes/ingest.ts';
import { queryRoutes, type QueryRouteDeps } from './routes/query.ts';
import { sdkRoutes } from './routes/sdk.ts';
import type { Env } from './types.ts';
import type { EdgeAppDeps } from './edge-deps.ts';
import { forwardedHttpGuard } from './insecure-transport.ts';
import { ipLimits } from './middleware/edge-limits.ts';
import { accessWatch } from './middleware/access-watch.ts';
import type { AccessWatch } from '../anomaly/watch.ts';
import { httpMetrics, type HttpMetricsSink } from './middleware/http-metrics.ts';
import { tenantSettingsRoutes } from './routes/tenant-settings.ts';
import { openApiDocument } from './openapi/route.ts';

export interface AppDeps {
  logger: Logger;
  trustedProxies: string[];
  ingest: IngestRouteDeps;
  admin: AdminRouteDeps;
  query: QueryRouteDeps;
  /** Audit log, backups, retention, deletion, support grants. */
  governance?: GovernanceDeps;
  /** Rate limits, failed-auth throttling, plain-HTTP refusal, tenant edge settings. */
  edge?: EdgeAppDeps;
  /** The access anomaly watch, fed after every /v1 request on the API listener. */
  anomaly?: { watch: AccessWatch; countryHeader?: string };
  /** palisade_http_requests_total and friends; every response of both apps is counted. */
  httpMetrics?: HttpMetricsSink;
  /** Readiness: can this edge accept and deliver events right now? */
  ready: () => Promise<{ ready: boolean; checks: Record<string, unknown> }>;
}

// Middleware that awaits nothing of its own before or after the rest of the chain is a plain
// function returning `next()`, not an async one: every ingest request passes ~14 layers, and an
// async layer costs a promise and a resumption each. Turning seven such layers plain bought
// ~7 % of a single event's CPU in alternating bench runs.
function base(deps: AppDeps, listener: 'api' | 'admin'): Hono<Env> {
  const app = new Hono<Env>({ router: memoRouter() });
  // Outermost, so its status is the one sent and its time covers every other middleware.
  if (deps.httpMetrics) app.use('*', httpMetrics({ listener, sink: deps.httpMetrics }));
  app.use('*', requestContext({ logger: deps.logger, clientIp: clientIpResolver(deps.trustedProxies), listener }));
  app.use('*', apiSecurityHeaders());
  const g = deps.governance;
  const keys = deps.ingest.keys;
  // Failed authentications on every route end up here: note them for the audit log.
  app.onError(g ? auditingOnError(onError(deps.logger), { audit: g.audit, tenantOfKey: (id) => keys.key(id)?.tenantId }) : onError(deps.logger));
  app.notFound(notFound);
  return app;
}

export function createApiApp(deps: AppDeps): Hono<Env> {
  const app = base(deps, 'api');
  if (deps.edge) {
    // First: a request a trusted proxy took over plain HTTP is refused before anything reads it.
    app.use('*', forwardedHttpGuard(deps.edge.insecure));
  }
  // Before the per-IP limits, so attempts refused by a failed-auth cool-down are seen too.
  if (deps.anomaly) {
    app.use('/v1/*', accessWatch({ ...deps.anomaly, keys: deps.ingest.keys, trustedProxies: deps.trustedProxies, logger: deps.logger }));
  }
  if (deps.edge) {
    app.use('/v1/*', ipLimits(deps.edge.limits));
  }
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/openapi.json', openApiDocument('api'));
  app.get('/readyz', async (c) => {
    const r = await deps.ready();
    return c.json({ status: r.ready ? 'ready' : 'degraded', checks: r.checks }, r.ready ? 200 : 503);
  });
  // Before ingest: its POST /v1/:path would otherwise claim /v1/query.
  app.route('/', queryRoutes(deps.query));
  app.route('/', dashboardRoutes());
  app.route('/', sdkRoutes());
  // Also before ingest: GET /v1/audit, /v1/support-grants and /v1/export with a query key.
  if (deps.governance) app.route('/', tenantSelfRoutes(deps.governance));
  app.route('/', ingestRoutes(deps.ingest));
  // Anything else under /v1 with another method is a clear 405, not a 404.
  app.all('/v1/*', () => {
    throw new AppError(ErrorCode.METHOD_NOT_ALLOWED, 'method not allowed');
  });
  return app;
}

export function createAdminApp(deps: AppDeps): Hono<Env> {
  const app = base(deps, 'admin');
  const g = deps.governance;
  // First, so it sees every admin change after its handler ran.
  if (g) app.use('/admin/*', auditAdminActions({ audit: g.audit, actor: g.adminActor, logger: deps.logger }));
  app.get('/openapi.json', openApiDocument('admin'));
  app.route('/', adminRoutes(deps.admin));
  if (deps.edge) app.route('/', tenantSettingsRoutes(deps.edge.settings, { adminToken: deps.admin.adminToken }));
  if (g) {
    app.route('/', auditBackupAdminRoutes(g));
    app.route('/', tenantDataAdminRoutes(g));
  }
  return app;
}
