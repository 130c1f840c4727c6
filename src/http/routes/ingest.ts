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
import { readJsonBody } from '../body.ts';
import { assertNoCredentialInUrl, credentialFromBody, credentialFromHeader } from '../credentials.ts';
import { errorResponse } from '../errors.ts';
import { chargeKey, EXPOSED_HEADERS, type EdgeLimits } from '../middleware/edge-limits.ts';
import type { Env } from '../types.ts';

export interface IngestRouteDeps {
  auth: Authenticator;
  keys: KeyTable;
  ingest: IngestService;
  limits: Config['limits'];
  /** False while shutting down or when the spool is full: answer 503 before reading anything. */
  accepting: () => AppError | undefined;
  /** Accepted events, for the audit log's per-key, per-minute ingestion entries (a Map update, nothing more). */
  onAccepted?: (principal: Principal, ip: string, events: number) => void;
  /** Per-key event rate limits (issue 6); the per-IP ones run as middleware before this route. */
  edgeLimits?: EdgeLimits;
}

/** Events a body claims to carry, for the per-key rate limit (validated later). */
function eventCount(path: 'batch' | EventType, body: unknown): number {
  if (path !== 'batch' || typeof body !== 'object' || body === null) return 1;
  const batch = (body as { batch?: unknown }).batch;
  return Array.isArray(batch) ? batch.length : 1;
}

const PATHS: readonly ('batch' | EventType)[] = ['batch', ...EVENT_TYPES];
// Segment's analytics.js 2.0 posts to /v1/{t,p,i,g,a,s} (and /v1/b when batching):
// the same bodies under one-letter names, so a site can switch by changing apiHost.
const SHORT = new Map<string, 'batch' | EventType>([['b', 'batch'], ['t', 'track'], ['p', 'page'], ['s', 'screen'], ['i', 'identify'], ['g', 'group'], ['a', 'alias']]);

// What the major browser SDKs send (read from their code, proven in
// sdk/third-party/browser-sdks.int.test.ts): @segment/analytics-next 1.84
// adds Authorization (Basic writeKey) and X-Retry-Count on retries;
// @rudderstack/analytics-js 3.x adds Authorization, AnonymousId (base64, for
// ordering), SentAt, and Rsa-* on a retried or recovered item. Ours may send
// Content-Encoding. A header missing here fails the whole preflight.
const PREFLIGHT_HEADERS = [
  'authorization', 'content-type', 'content-encoding', 'accept', 'x-retry-count',
  'anonymousid', 'sentat', 'rsa-recovered', 'rsa-retry-attempt', 'rsa-retry-reason', 'rsa-since-first-attempt', 'rsa-since-last-attempt',
].join(', ');

// Segment- and RudderStack-style clients label JSON in several ways; the body decides (see body.ts).
const ANY_LABEL = { anyLabel: true } as const;

function allowCors(c: Context<Env>, origin: string): void {
  c.header('Access-Control-Allow-Origin', origin);
  c.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
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
  // Set early for a readable refusal; an accepted request is readable only by its own tenant's origins.
  else c.header('Access-Control-Allow-Origin', undefined);
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
    c.header('Access-Control-Allow-Headers', PREFLIGHT_HEADERS);
    // 2 h, Chromium's cap: a page's later requests, and above all the keepalive
    // flush when the tab closes, then need no preflight; Chromium sends an
    // unload-time preflight unreliably (sdk/third-party/browser-sdks.int.test.ts).
    c.header('Access-Control-Max-Age', '7200');
    return c.body(null, 204);
  });

  app.post('/v1/:path', async (c) => {
    const param = c.req.param('path');
    const path = (SHORT.get(param) ?? param) as 'batch' | EventType;
    if (!PATHS.includes(path)) throw new AppError(ErrorCode.NOT_FOUND, 'no such route');
    // Refusals (401/403/429/503) must be readable by the browser SDK on any
    // origin a tenant allows, or it cannot tell "stop" from "retry after N s".
    // The same origins the preflight answers; whether the key may be used from
    // this origin is still checked below.
    const origin = c.req.header('origin');
    if (origin && deps.keys.isKnownOrigin(origin)) allowCors(c, origin);
    assertNoCredentialInUrl(c.req.url);
    const refusal = deps.accepting();
    if (refusal) throw refusal;

    const headerToken = credentialFromHeader(c.req.header('authorization'));
    // With a header credential, authenticate before reading the body so
    // unauthenticated traffic costs us no parsing.
    let principal = headerToken ? await deps.auth.authenticate(headerToken, { ip: c.get('clientIp') }) : undefined;
    if (principal) c.set('principal', principal);
    const body = await readJsonBody(c.req.raw, deps.limits, c.env?.incoming, ANY_LABEL);
    if (!principal) {
      principal = await deps.auth.authenticate(credentialFromBody(body), { ip: c.get('clientIp') });
      c.set('principal', principal);
    }
    if (principal.scope !== 'ingest' && principal.scope !== 'browser') {
      throw new AppError(ErrorCode.WRONG_SCOPE, `a ${principal.scope} key cannot send events; use an ingest or browser key`);
    }
    checkOrigin(c, principal, deps.keys);
    if (deps.edgeLimits) chargeKey(c, deps.edgeLimits, principal, eventCount(path, body));

    const outcome = await deps.ingest.ingest(path, body, principal, {
      requestId: c.get('requestId'),
      ip: c.get('clientIp'),
      userAgent: c.req.header('user-agent') ?? '',
      receivedAt: new Date(),
      doNotTrack: c.req.header('dnt') === '1' || c.req.header('sec-gpc') === '1',
    });
    if (outcome.accepted > 0) deps.onAccepted?.(principal, c.get('clientIp'), outcome.accepted);

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
