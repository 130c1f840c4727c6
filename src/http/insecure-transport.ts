/**
 * Plain HTTP never serves the API: a credential that crossed the
 * network in clear text is leaked, whatever we answer. So a request on the
 * optional plain-HTTP listener, or one a trusted proxy says arrived over
 * plain HTTP (X-Forwarded-Proto), is refused with 403 and an explanation,
 * never redirected (a redirect makes the leak work and hides it). When it
 * carried a secret key that verifies, that key is reported as exposed
 * (audited, alerted, and revoked if its tenant opted in). A key id alone
 * proves nothing, so nobody can get someone else's key revoked by naming it.
 * The one redirect is a browser asking for the dashboard page.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import type { Authenticator, Principal } from '../auth/authenticator.ts';
import { parseToken } from '../auth/tokens.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { clientIpResolver, forwardedPlainHttp } from './client-ip.ts';
import { credentialFromHeader } from './credentials.ts';
import { errorResponse, onError } from './errors.ts';
import type { Env } from './types.ts';
import { requestHeader } from './request-headers.ts';

const gunzip = promisify(gunzipCb);

export type ExposureChannel = 'plain_http' | 'forwarded_http';

export interface ExposedKey {
  principal: Principal;
  channel: ExposureChannel;
  ip: string;
  requestId: string;
}

export interface InsecureTransportDeps {
  auth: Authenticator;
  logger: Logger;
  trustedProxies: string[];
  /** A secret key proven to have travelled in clear: audit, alert, revoke if the tenant opted in. */
  onExposed: (e: ExposedKey) => Promise<void>;
  /** Refusals, by what the request carried (for the metrics). */
  onRefused?: (outcome: 'credential' | 'redirect' | 'refused', channel: ExposureChannel) => void;
  /** The HTTPS port browsers are sent to for the dashboard (443 is left out of the URL). */
  httpsPort: number;
}

// How much of a plain-HTTP body we read looking for a key: a beacon is a few KB.
const MAX_SCAN_BYTES = 64 * 1024;
const TOKEN_RE = /pal_sk_[0-9A-Za-z]{16}_[0-9A-Za-z]{28}|pal_pk_[0-9A-Za-z]{16}/g;
const CREDENTIAL_PARAM = /(?:^|[?&])(?:writekey|write_key|key|api_key|apikey|token|access_token|secret|password|auth)=/i;
const HOST_RE = /^(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])$/;

async function scanBody(c: Context<Env>): Promise<string> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return '';
  const parts: Buffer[] = [];
  let total = 0;
  try {
    const source: AsyncIterable<Uint8Array> | undefined = c.env?.incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? undefined;
    if (!source) return '';
    for await (const chunk of source) {
      parts.push(Buffer.from(chunk));
      total += chunk.byteLength;
      if (total >= MAX_SCAN_BYTES) break;
    }
  } catch {
    return Buffer.concat(parts).toString('latin1');
  }
  const raw = Buffer.concat(parts).subarray(0, MAX_SCAN_BYTES);
  if ((requestHeader(c, 'content-encoding') ?? '').toLowerCase().includes('gzip')) {
    try {
      return (await gunzip(raw, { maxOutputLength: 4 * MAX_SCAN_BYTES })).toString('latin1');
    } catch {
      return raw.toString('latin1');
    }
  }
  return raw.toString('latin1');
}

function decoded(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

/** Every credential-looking thing the request carries (at most a few), and whether it carried any at all. */
async function credentialsIn(c: Context<Env>): Promise<{ any: boolean; tokens: string[] }> {
  const url = c.req.url;
  const authorization = requestHeader(c, 'authorization');
  const body = await scanBody(c);
  const tokens = new Set<string>();
  const fromHeader = credentialFromHeader(authorization);
  if (fromHeader) tokens.add(fromHeader);
  for (const text of [url, decoded(url), authorization ?? '', body]) {
    for (const m of text.matchAll(TOKEN_RE)) {
      if (tokens.size >= 4) break;
      tokens.add(m[0]);
    }
  }
  const any = tokens.size > 0 || authorization !== undefined || CREDENTIAL_PARAM.test(url) || /"writeKey"\s*:/.test(body);
  return { any, tokens: [...tokens] };
}

/** Secret keys among `tokens` that verify (argon2 under the usual cap and throttles); publishable keys are public anyway. */
async function provenSecretKeys(tokens: string[], auth: Authenticator): Promise<Principal[]> {
  const out: Principal[] = [];
  for (const t of tokens) {
    const parsed = parseToken(t);
    if (typeof parsed === 'string' || parsed.kind !== 'secret') continue;
    try {
      out.push(await auth.authenticate(t));
    } catch {
      // Not a live key: nothing was exposed.
    }
  }
  return out;
}

function dashboardRedirect(c: Context<Env>, httpsPort: number): Response | undefined {
  if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || !/^\/dashboard(\/|$)/.test(c.req.path)) return undefined;
  const hostHeader = requestHeader(c, 'host') ?? '';
  const host = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0] ?? '';
  // Only a plain host name or address: the Host header is the client's, and must not build an open redirect.
  if (!HOST_RE.test(host)) return undefined;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  return c.redirect(`https://${host}${port}${c.req.path}`, 308);
}

export async function refuseInsecure(c: Context<Env>, d: InsecureTransportDeps, channel: ExposureChannel): Promise<Response> {
  const found = await credentialsIn(c);
  if (!found.any) {
    const redirect = dashboardRedirect(c, d.httpsPort);
    d.onRefused?.(redirect ? 'redirect' : 'refused', channel);
    if (redirect) return redirect;
    return errorResponse(c, new AppError(ErrorCode.INSECURE_TRANSPORT, 'Palisade serves its API over HTTPS only; send this request to the https:// address.'));
  }
  d.onRefused?.('credential', channel);
  for (const principal of await provenSecretKeys(found.tokens, d.auth)) {
    c.set('principal', principal);
    await d.onExposed({ principal, channel, ip: c.get('clientIp'), requestId: c.get('requestId') });
  }
  return errorResponse(
    c,
    new AppError(
      ErrorCode.INSECURE_TRANSPORT,
      'this request carried a credential over plain HTTP and was not processed. Anyone on the network path may have read it: ' +
        'treat the key as exposed, create a new one and revoke this one, and send API calls to the https:// address only.',
    ),
  );
}

/** On the HTTPS listener: a request a trusted proxy received over plain HTTP is refused the same way. */
export function forwardedHttpGuard(d: InsecureTransportDeps): MiddlewareHandler<Env> {
  const plain = forwardedPlainHttp(d.trustedProxies);
  return function forwardedHttpGuard(c, next) {
    if (plain(c.env?.incoming?.socket?.remoteAddress, requestHeader(c, 'x-forwarded-proto'))) return refuseInsecure(c, d, 'forwarded_http');
    return next();
  };
}

/** The whole app of the plain-HTTP listener. */
export function createPlainHttpApp(d: InsecureTransportDeps): Hono<Env> {
  const app = new Hono<Env>();
  const clientIp = clientIpResolver(d.trustedProxies);
  app.use('*', async function plainContext(c, next) {
    const started = performance.now();
    const requestId = randomUUID();
    c.set('requestId', requestId);
    c.set('clientIp', clientIp(c.env?.incoming?.socket?.remoteAddress, requestHeader(c, 'x-forwarded-for')));
    c.header('X-Request-Id', requestId);
    c.header('Cache-Control', 'no-store');
    c.header('Connection', 'close');
    await next();
    const principal = c.get('principal');
    d.logger.info(
      { requestId, listener: 'http', method: c.req.method, status: c.res.status, durationMs: Math.round((performance.now() - started) * 10) / 10, tenantId: principal?.tenantId, keyId: principal?.keyId },
      'request',
    );
  });
  app.onError(onError(d.logger));
  app.all('*', (c) => refuseInsecure(c, d, 'plain_http'));
  return app;
}
