/**
 * The tenant-scoped query API: POST /v1/query (a structured JSON query) and
 * GET /v1/query/schema (event names and property keys for pickers). Only a
 * query key, only in the Authorization header; the tenant is the key's. From
 * a browser, only the server's own origin and PALISADE_DASHBOARD_ORIGINS may
 * call it: any other Origin is refused outright, not merely left without CORS
 * headers.
 */
import { Hono, type Context } from 'hono';
import type { Authenticator, Principal } from '../../auth/authenticator.ts';
import { AppError, ErrorCode, isAppError } from '../../errors/index.ts';
import type { QueryOutcome, QueryService } from '../../query/service.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import { assertNoCredentialInUrl, credentialFromHeader } from '../credentials.ts';
import type { Env } from '../types.ts';

/** What one query call leaves behind, ok or not: enough for an audit line. */
export interface QueryAuditEvent {
  requestId: string;
  ip: string;
  tenantId: string | undefined;
  keyId: string | undefined;
  kind: string | undefined;
  rows: number;
  durationMs: number;
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
  const host = c.req.header('host');
  return host ? `https://${host}` : undefined;
}

function cors(c: Context<Env>, allowed: ReadonlySet<string>): void {
  const origin = c.req.header('origin');
  if (origin === undefined) return; // not a browser cross-origin call: CORS does not apply
  if (origin !== ownOrigin(c) && !allowed.has(origin)) {
    throw new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, 'this origin may not call the query API; add it to PALISADE_DASHBOARD_ORIGINS');
  }
  c.header('Access-Control-Allow-Origin', origin);
  c.header('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After');
  c.header('Vary', 'Origin');
}

async function queryPrincipal(c: Context<Env>, auth: Authenticator): Promise<Principal> {
  assertNoCredentialInUrl(c.req.url);
  // Header only: a query key is a secret, and a publishable key cannot read.
  const principal = await auth.authenticate(credentialFromHeader(c.req.header('authorization')), { ip: c.get('clientIp') });
  c.set('principal', principal);
  if (principal.scope !== 'query') {
    throw new AppError(ErrorCode.WRONG_SCOPE, `${principal.scope === 'ingest' ? 'an ingest' : 'a browser'} key cannot read data; use a query key`);
  }
  return principal;
}

export function queryRoutes(deps: QueryRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  const allowed = new Set(deps.dashboardOrigins);

  /** Runs one query call and reports it to onQuery whatever the outcome. */
  async function handle(c: Context<Env>, body: () => Promise<unknown>): Promise<Response> {
    const started = performance.now();
    let outcome: QueryOutcome | undefined;
    let kind: string | undefined;
    let failure: ErrorCode | undefined;
    try {
      cors(c, allowed);
      const principal = await queryPrincipal(c, deps.auth);
      const b = await body();
      const k = (b as { kind?: unknown } | null)?.kind;
      kind = typeof k === 'string' && KINDS.has(k) ? k : undefined;
      outcome = await deps.query.run(principal, b);
      return c.json(outcome.result);
    } catch (err) {
      failure = isAppError(err) ? err.code : ErrorCode.INTERNAL;
      throw err;
    } finally {
      const principal = c.get('principal');
      deps.onQuery?.({
        requestId: c.get('requestId'),
        ip: c.get('clientIp'),
        tenantId: principal?.tenantId,
        keyId: principal?.keyId,
        kind,
        rows: outcome?.rows ?? 0,
        durationMs: Math.round(performance.now() - started),
        outcome: failure ?? 'ok',
      });
    }
  }

  app.options('/v1/query', (c) => preflight(c, allowed));
  app.options('/v1/query/schema', (c) => preflight(c, allowed));

  app.post('/v1/query', (c) =>
    handle(c, async () => {
      assertJsonContentType(c.req.raw, false);
      return await readJsonBody(c.req.raw, BODY_LIMITS, c.env?.incoming);
    }),
  );

  app.get('/v1/query/schema', (c) =>
    handle(c, async () => {
      const from = c.req.query('from');
      const to = c.req.query('to');
      return { kind: 'schema', ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
    }),
  );

  return app;
}

function preflight(c: Context<Env>, allowed: ReadonlySet<string>): Response {
  if (c.req.header('origin') === undefined) throw new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, 'a preflight needs an Origin');
  cors(c, allowed);
  c.header('Access-Control-Allow-Methods', 'GET, POST');
  c.header('Access-Control-Allow-Headers', 'authorization, content-type');
  c.header('Access-Control-Max-Age', '600');
  return c.body(null, 204);
}
