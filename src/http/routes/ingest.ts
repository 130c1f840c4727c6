/**
 * The Segment-shaped tracking API: POST /v1/batch and /v1/{track,page,screen,
 * identify,group,alias}. Secret ingest keys come in the Authorization header;
 * publishable browser keys may also come as `writeKey` in the body and are
 * accepted only from their tenant's allowed origins.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import type { Authenticator, Principal } from '../../auth/authenticator.ts';
import type { KeyTable } from '../../auth/key-table.ts';
import type { Config } from '../../config/index.ts';
import type { IngestService } from '../../ingest/service.ts';
import { EVENT_TYPES, type EventType } from '../../../schemas/event-row.ts';
import { errorResponse } from '../errors.ts';
import { browserOrigin } from '../middleware/browser-origin.ts';
import { cors } from '../middleware/cors.ts';
import { chargeKey, EXPOSED_HEADERS, type EdgeLimits } from '../middleware/edge-limits.ts';
import { sharedJsonBody } from '../middleware/json-body.ts';
import { keyAuth, noCredentialInUrl, principalOf } from '../middleware/key-auth.ts';
import { requestHeader } from '../request-headers.ts';
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
  /** Per-key event rate limits; the per-IP ones run as middleware before this route. */
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
// 2 h, Chromium's cap: a page's later requests, and above all the keepalive
// flush when the tab closes, then need no preflight; Chromium sends an
// unload-time preflight unreliably (sdk/third-party/browser-sdks.int.test.ts).
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

function eventPath(param: string): 'batch' | EventType | undefined {
  const path = (SHORT.get(param) ?? param) as 'batch' | EventType;
  return PATHS.includes(path) ? path : undefined;
}

export function ingestRoutes(deps: IngestRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  const jsonBody = sharedJsonBody({ limits: deps.limits, allowTextPlain: true, anyLabel: true });
  // Refusals (401/403/429/503) must be readable by the browser SDK on any
  // origin a tenant allows, or it cannot tell "stop" from "retry after N s".
  // A preflight carries no credential, so it is answered for any origin some
  // tenant allows; the real request is then checked against its own tenant
  // (browserOrigin, after authentication).
  const ingestCors = cors({
    origin: (origin) => deps.keys.isKnownOrigin(origin),
    exposeHeaders: EXPOSED_HEADERS,
    preflight: { allowMethods: 'POST', allowHeaders: PREFLIGHT_HEADERS, maxAgeSeconds: PREFLIGHT_MAX_AGE_SECONDS },
  });
  const knownPath: MiddlewareHandler<Env> = function knownPath(c, next) {
    if (!eventPath(c.req.param('path') ?? '')) throw new AppError(ErrorCode.NOT_FOUND, 'no such route');
    return next();
  };
  /** False while shutting down or when the spool is full: answer 503 before reading anything. */
  const accepting: MiddlewareHandler<Env> = function accepting(_c, next) {
    const refusal = deps.accepting();
    if (refusal) throw refusal;
    return next();
  };
  // Secret ingest keys in the header (checked before the body is read), publishable keys also as `writeKey` in the body.
  const ingestKey = keyAuth({
    auth: deps.auth,
    scopes: ['ingest', 'browser'],
    wrongScope: (scope) => `a ${scope} key cannot send events; use an ingest or browser key`,
    bodyCredential: jsonBody,
  });

  app.options('/v1/:path', ingestCors);

  app.post('/v1/:path', knownPath, ingestCors, noCredentialInUrl(), accepting, ingestKey, browserOrigin({ keys: deps.keys, exposeHeaders: EXPOSED_HEADERS }), async (c) => {
    const path = eventPath(c.req.param('path')) as 'batch' | EventType;
    const principal = principalOf(c);
    const body = await jsonBody(c);
    if (deps.edgeLimits) await chargeKey(c, deps.edgeLimits, principal, eventCount(path, body));

    const outcome = await deps.ingest.ingest(path, body, principal, {
      requestId: c.get('requestId'),
      ip: c.get('clientIp'),
      userAgent: requestHeader(c, 'user-agent') ?? '',
      receivedAt: new Date(),
      doNotTrack: requestHeader(c, 'dnt') === '1' || requestHeader(c, 'sec-gpc') === '1',
      bodyBytes: c.get('jsonBodyBytes'),
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
