/**
 * Key authentication, declared per route (or route group) where the route is
 * declared: `app.get('/v1/audit', queryKey, handler)`. Handlers read the
 * principal from `c.get('principal')` and never check a credential themselves.
 *   - `noCredentialInUrl()` refuses a key-shaped query string before anything
 *     else looks at the request (a key in a URL lands in proxy logs).
 *   - `keyAuth({ scopes })` takes the key from the Authorization header and
 *     refuses any other scope (403 wrong_scope, with the group's own message).
 *     With `bodyCredential`, a publishable key may come as `writeKey` in the
 *     JSON body: a header credential is still checked before the body is read
 *     (unauthenticated traffic costs no parsing), and the body is read once
 *     and shared with the handler through `bodyCredential`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Authenticator, Principal } from '../../auth/authenticator.ts';
import type { Scope } from '../../auth/tokens.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { assertNoCredentialInUrl, credentialFromBody, credentialFromHeader } from '../credentials.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

export function noCredentialInUrl(): MiddlewareHandler<Env> {
  return function noCredentialInUrl(c, next) {
    assertNoCredentialInUrl(c.req.url);
    return next();
  };
}

export interface KeyAuthOptions {
  auth: Pick<Authenticator, 'authenticate'>;
  /** The scopes this route group serves. */
  scopes: readonly Scope[];
  /** The 403 wrong_scope message for a key of another scope. */
  wrongScope: (scope: Scope) => string;
  /** Reads the request's JSON body (once; see `sharedJsonBody`): a `writeKey` in it is accepted when no header credential came. */
  bodyCredential?: (c: Context<Env>, headerToken?: string) => Promise<unknown>;
}

export function keyAuth(o: KeyAuthOptions): MiddlewareHandler<Env> {
  const scopes = new Set<Scope>(o.scopes);
  return async function keyAuth(c, next) {
    const headerToken = credentialFromHeader(requestHeader(c, 'authorization'));
    let principal: Principal | undefined;
    if (headerToken || !o.bodyCredential) {
      principal = await o.auth.authenticate(headerToken, { ip: c.get('clientIp') });
      c.set('principal', principal);
    }
    if (o.bodyCredential) {
      const body = await o.bodyCredential(c, headerToken);
      if (!principal) {
        principal = await o.auth.authenticate(credentialFromBody(body), { ip: c.get('clientIp') });
        c.set('principal', principal);
      }
    }
    if (!principal || !scopes.has(principal.scope)) {
      throw new AppError(ErrorCode.WRONG_SCOPE, o.wrongScope(principal?.scope ?? 'query'));
    }
    await next();
  };
}

/** The principal a key-authenticated route runs as (set by `keyAuth`, which ran before the handler). */
export function principalOf(c: Context<Env>): Principal {
  const p = c.get('principal');
  if (!p) throw new AppError(ErrorCode.INTERNAL, 'route declared without key authentication');
  return p;
}
