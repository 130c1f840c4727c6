/**
 * The Segment-shaped tracking API: POST /v1/batch and /v1/{track,page,screen,
 * identify,group,alias}. Secret ingest keys come in the Authorization header;
 * publishable browser keys may also come as `writeKey` in the body and are
 * accepted only from their tenant's allowed origins.
 */
import { Hono, type Context } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import type { Authenticator, Principal } from '../../auth/authenticator.ts';
import type { KeyTable } from '../../auth/key-table.ts';
import type { Config } from '../../config/index.ts';
import type { IngestService } from '../../ingest/service.ts';
import { EVENT_TYPES, type EventType } from '../../../schemas/event-row.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import { assertNoCredentialInUrl, credentialFromBody, credentialFromHeader } from '../credentials.ts';
import { errorResponse } from '../errors.ts';
import type { Env } from '../types.ts';

export interface IngestRouteDeps {
  auth: Authenticator;
  keys: KeyTable;
  ingest: IngestService;
  limits: Config['limits'];
  /** False while shutting down or when the spool is full: answer 503 before reading anything. */
  accepting: () => AppError | undefined;
}

const PATHS: readonly ('batch' | EventType)[] = ['batch', ...EVENT_TYPES];

function allowCors(c: Context<Env>, origin: string): void {
  c.header('Access-Control-Allow-Origin', origin);
  c.header('Vary', 'Origin');
}

/** Browser keys: only from the tenant's allowed origins. Other keys: CORS only for listed origins too. */
function checkOrigin(c: Context<Env>, principal: Principal, keys: KeyTable): void {
  const origin = c.req.header('origin');
  const tenant = keys.tenant(principal.tenantId);
  const allowed = origin !== undefined && tenant !== undefined && tenant.allowedOrigins.includes(origin);
  if (principal.scope === 'browser' && !allowed) {
    throw new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, 'this browser key may only be used from its tenant\'s allowed origins');
  }
  if (allowed && origin) allowCors(c, origin);
}

export function ingestRoutes(deps: IngestRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  // CORS preflight: it carries no credential, so it is answered for any origin
  // some tenant allows; the real request is then checked against its own tenant.
  app.options('/v1/:path', (c) => {
    const origin = c.req.header('origin');
    if (!origin || !deps.keys.isKnownOrigin(origin)) {
      return errorResponse(c, new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, 'origin not allowed'));
    }
    allowCors(c, origin);
    c.header('Access-Control-Allow-Methods', 'POST');
    c.header('Access-Control-Allow-Headers', 'authorization, content-type, content-encoding');
    c.header('Access-Control-Max-Age', '600');
    return c.body(null, 204);
  });

  app.post('/v1/:path', async (c) => {
    const path = c.req.param('path') as 'batch' | EventType;
    if (!PATHS.includes(path)) throw new AppError(ErrorCode.NOT_FOUND, 'no such route');
    assertNoCredentialInUrl(c.req.url);
    const refusal = deps.accepting();
    if (refusal) throw refusal;

    const headerToken = credentialFromHeader(c.req.header('authorization'));
    // With a header credential, authenticate before reading the body so
    // unauthenticated traffic costs us no parsing.
    let principal = headerToken ? await deps.auth.authenticate(headerToken) : undefined;
    if (principal) c.set('principal', principal);
    assertJsonContentType(c.req.raw, true);
    const body = await readJsonBody(c.req.raw, deps.limits, c.env?.incoming);
    if (!principal) {
      principal = await deps.auth.authenticate(credentialFromBody(body));
      c.set('principal', principal);
    }
    if (principal.scope !== 'ingest' && principal.scope !== 'browser') {
      throw new AppError(ErrorCode.WRONG_SCOPE, `a ${principal.scope} key cannot send events; use an ingest or browser key`);
    }
    checkOrigin(c, principal, deps.keys);

    const outcome = await deps.ingest.ingest(path, body, principal, {
      requestId: c.get('requestId'),
      ip: c.get('clientIp'),
      userAgent: c.req.header('user-agent') ?? '',
      receivedAt: new Date(),
    });

    if (path !== 'batch' && outcome.accepted === 0 && outcome.rejected[0]) {
      const r = outcome.rejected[0];
      const code = r.code === 'event_too_large' ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_EVENT;
      return errorResponse(c, new AppError(code, `${r.code}: ${r.message}`));
    }
    if (outcome.rejected.length === 0) return c.json({ success: true });
    return c.json({ success: true, accepted: outcome.accepted, rejected: outcome.rejected });
  });

  return app;
}
