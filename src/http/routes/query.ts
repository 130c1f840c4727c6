/**
 * The tenant-scoped query API: POST /v1/query (a structured JSON query) and
 * GET /v1/query/schema (event names and property keys for pickers). Only a
 * query key, only in the Authorization header; the tenant is the key's. From
 * a browser, only the server's own origin and PALISADE_DASHBOARD_ORIGINS may
 * call it: any other Origin is refused outright, not merely left without CORS
 * headers.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Authenticator } from '../../auth/authenticator.ts';
import { AppError, ErrorCode, isAppError } from '../../errors/index.ts';
import type { QueryService } from '../../query/service.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import { cors } from '../middleware/cors.ts';
import { keyAuth, noCredentialInUrl, principalOf } from '../middleware/key-auth.ts';
import type { QueryCall } from '../../audit/query-audit.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

/** What one query call leaves behind, ok or not (the query audit trail's QueryCall), its outcome one of our codes. */
export interface QueryAuditEvent extends QueryCall {
  outcome: 'ok' | ErrorCode;
}

export interface QueryRouteDeps {
  auth: Authenticator;
  query: QueryService;
  /** Origins besides the server's own whose pages may call the query API. */
  dashboardOrigins: string[];
  /** Called once per query call: the audit log's query entry and a log line. */
  onQuery?: (e: QueryAuditEvent) => void;
}

// Query bodies are small; 64 KB leaves room for a 10-step funnel with filters.
const BODY_LIMITS = { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 };
const KINDS = new Set(['trend', 'top', 'funnel', 'events', 'warnings', 'schema']);

/** The dashboard served by this server calls from its own origin (TLS only, so https). */
function ownOrigin(c: Context<Env>): string | undefined {
  const host = requestHeader(c, 'host');
  return host ? `https://${host}` : undefined;
}

/**
 * Reports every query call to onQuery, whatever its outcome (a refused origin
 * or key included): the outermost middleware of the group, so it sees the
 * error the later ones threw in `c.error`.
 */
function reportQuery(onQuery: ((e: QueryAuditEvent) => void) | undefined): MiddlewareHandler<Env> {
  return async function reportQuery(c, next) {
    const started = performance.now();
    await next();
    const err = c.error;
    const principal = c.get('principal');
    onQuery?.({
      requestId: c.get('requestId'),
      ip: c.get('clientIp'),
      tenantId: principal?.tenantId,
      keyId: principal?.keyId,
      kind: c.get('queryKind'),
      rows: c.get('queryRows') ?? 0,
      durationMs: Math.round(performance.now() - started),
      outcome: err === undefined ? 'ok' : isAppError(err) ? err.code : ErrorCode.INTERNAL,
    });
  };
}

export function queryRoutes(deps: QueryRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  const allowed = new Set(deps.dashboardOrigins);
  const queryCors = cors({
    origin: (origin, c) => origin === ownOrigin(c) || allowed.has(origin),
    exposeHeaders: 'X-Request-Id, Retry-After',
    refuse: (origin) =>
      new AppError(
        ErrorCode.ORIGIN_NOT_ALLOWED,
        origin === undefined ? 'a preflight needs an Origin' : 'this origin may not call the query API; add it to PALISADE_DASHBOARD_ORIGINS',
      ),
    preflight: { allowMethods: 'GET, POST', allowHeaders: 'authorization, content-type', maxAgeSeconds: 600 },
  });
  // Header only: a query key is a secret, and a publishable key cannot read.
  const queryKey = keyAuth({
    auth: deps.auth,
    scopes: ['query'],
    wrongScope: (scope) => `${scope === 'ingest' ? 'an ingest' : 'a browser'} key cannot read data; use a query key`,
  });
  const guard = [reportQuery(deps.onQuery), queryCors, noCredentialInUrl(), queryKey] as const;

  async function run(c: Context<Env>, body: unknown): Promise<Response> {
    const k = (body as { kind?: unknown } | null)?.kind;
    c.set('queryKind', typeof k === 'string' && KINDS.has(k) ? k : undefined);
    const outcome = await deps.query.run(principalOf(c), body);
    c.set('queryRows', outcome.rows);
    return c.json(outcome.result);
  }

  app.options('/v1/query', queryCors);
  app.options('/v1/query/schema', queryCors);

  app.post('/v1/query', ...guard, async (c) => {
    assertJsonContentType(c.req.raw, false);
    return await run(c, await readJsonBody(c.req.raw, BODY_LIMITS, c.env?.incoming));
  });

  app.get('/v1/query/schema', ...guard, async (c) => {
    const from = c.req.query('from');
    const to = c.req.query('to');
    return await run(c, { kind: 'schema', ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) });
  });

  return app;
}
