/**
 * The limits step of the data flow (step 3, docs/architecture.md) on the API
 * listener: per-client-IP limits that run before
 * authentication, and the per-key charge that runs after it.
 *   - An IP in a failed-auth cool-down is refused at once (429, Retry-After):
 *     no body read, no token parsed, no argon2.
 *   - Each request takes a token from its IP's bucket (IPv6: its /64).
 *   - After the route ran, an authentication failure counts against the IP.
 *   - `chargeKey` takes a request's events from its key's bucket (the
 *     tenant's own policy, or the node default). A browser key's events are
 *     first taken from a bucket of its own per client network (IPv4 /24,
 *     IPv6 /64) holding BROWSER_NETWORK_SHARE of the key's budget: a browser
 *     key is public (it is in the site's HTML), so without it one stranger
 *     could spend the whole budget and refuse every real visitor.
 * Every response on a limited route carries the RateLimit-Policy and
 * RateLimit fields (draft-ietf-httpapi-ratelimit-headers); a refusal also
 * carries Retry-After. The limits are per edge node (docs/hardening.md).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AuthFailure, type AuthFailureReason, type Principal } from '../../auth/authenticator.ts';
import type { FailureThrottle } from '../../auth/failure-throttle.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { policyHeader, rateLimitHeader, type BucketPolicy, type Decision, type TokenBuckets } from '../../limits/token-bucket.ts';
import { clientKey, ipPrefix } from '../../net/ip-prefix.ts';
import type { Env } from '../types.ts';
import { allowOrigin } from './cors.ts';
import { requestHeader } from '../request-headers.ts';

/** Failures that say "someone is guessing" (trying a key in its cool-down too); not a missing credential, not our own overload. */
const COUNTED = new Set<AuthFailureReason>(['malformed', 'bad_checksum', 'unknown_key', 'wrong_secret', 'revoked', 'throttled']);
/** Refusals answered late (see `tarpitMs`). */
const TARPITTED = new Set<AuthFailureReason>(['throttled', 'overloaded']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const EXPOSED_HEADERS = 'Retry-After, RateLimit, RateLimit-Policy, X-Request-Id';

export interface EdgeLimits {
  buckets: TokenBuckets;
  ipPolicy: BucketPolicy;
  ipThrottle: FailureThrottle;
  /** The per-key policy for a tenant: its own setting, or the node default. */
  keyPolicy: (tenantId: string) => BucketPolicy;
  /** Origins a refusal may be made readable to (the same ones CORS preflights are answered for). */
  isKnownOrigin: (origin: string) => boolean;
  /**
   * How long a refusal for failed-auth throttling is held before it is sent.
   * A refusal costs us ~0.2 ms of CPU; an attacker who sends the next attempt
   * as soon as the last is answered would otherwise turn cheap refusals into a
   * CPU flood. Held, N connections yield at most N / tarpit attempts a second,
   * for the price of a timer each (connections per IP are capped).
   */
  tarpitMs: number;
  /**
   * How long a browser key's refusal for its client network's share is held
   * before it is sent. A visitor's SDK waits out Retry-After (≥ 1 s) anyway;
   * a stranger who floods a published key and sends again as soon as it is
   * refused would otherwise be answered as fast as it can send: each refusal
   * still costs TLS, the body and its JSON (~0.3 ms), on the cores the key's
   * tenant and every other tenant share. Held, N connections yield at most
   * N / hold requests a second.
   */
  networkTarpitMs: number;
  /** An IP's cool-down just started (audit and alert, once per cool-down). */
  onIpThrottled?: (ip: string, requestId: string) => void;
  /** A tenant's request refused by its per-key bucket (for "one tenant limited for long"). */
  onKeyLimited?: (tenantId: string) => void;
  counters: { rateLimitedIp: number; rateLimitedKey: number; ipThrottleRefusals: number };
}

function setHeaders(c: Context<Env>, d: Decision): void {
  c.header('RateLimit-Policy', policyHeader(d.policy), { append: true });
  c.header('RateLimit', rateLimitHeader(d), { append: true });
}

/** A refusal must be readable by the browser SDK, or it cannot tell "stop" from "retry after N s". */
function corsForRefusal(c: Context<Env>, l: EdgeLimits): void {
  const origin = requestHeader(c, 'origin');
  if (origin && l.isKnownOrigin(origin)) allowOrigin(c, origin, EXPOSED_HEADERS);
}

export function ipLimits(l: EdgeLimits): MiddlewareHandler<Env> {
  return async function ipLimits(c, next) {
    // A preflight carries no credential and costs nothing; its real request is limited.
    if (c.req.method === 'OPTIONS') return next();
    const who = clientKey(c.get('clientIp'));
    const wait = l.ipThrottle.blockedFor(who);
    if (wait > 0) {
      l.counters.ipThrottleRefusals++;
      corsForRefusal(c, l);
      if (l.tarpitMs > 0) await sleep(l.tarpitMs);
      throw new AuthFailure('throttled', undefined, ErrorCode.RATE_LIMITED, 'too many failed authentication attempts from this address; retry later', wait);
    }
    const d = l.buckets.take(`ip:${who}`, l.ipPolicy);
    if (d.policy.ratePerSec > 0) setHeaders(c, d);
    if (!d.allowed) {
      l.counters.rateLimitedIp++;
      corsForRefusal(c, l);
      throw new AppError(ErrorCode.RATE_LIMITED, 'too many requests from this address; slow down', { retryAfter: d.retryAfterSeconds });
    }
    await next();
    // Hono hands a thrown error to onError and records it here.
    const err = c.error;
    if (!(err instanceof AuthFailure)) return;
    if (COUNTED.has(err.reason) && l.ipThrottle.fail(who)) l.onIpThrottled?.(c.get('clientIp'), c.get('requestId'));
    if (TARPITTED.has(err.reason) && l.tarpitMs > 0) await sleep(l.tarpitMs);
  };
}

/**
 * A quarter of a browser key's rate and burst per client network: one network
 * (a flooding stranger, or one office behind NAT) can spend at most that, so
 * three more networks' worth stays for everyone else; a stranger needs many
 * /24s (or /64s) to exhaust the key, and each of those is also IP-limited.
 */
export const BROWSER_NETWORK_SHARE = 0.25;

export function networkPolicy(key: BucketPolicy): BucketPolicy {
  return { name: 'key-network', ratePerSec: key.ratePerSec * BROWSER_NETWORK_SHARE, burst: Math.max(1, Math.floor(key.burst * BROWSER_NETWORK_SHARE)) };
}

/**
 * Charges `events` to the key's bucket; throws 429 when it is empty. A
 * browser key is charged to its client network's share first, and a request
 * refused there costs the key's total nothing.
 */
export async function chargeKey(c: Context<Env>, l: EdgeLimits, principal: Principal, events: number): Promise<void> {
  const keyPolicy = l.keyPolicy(principal.tenantId);
  const cost = Math.max(1, events);
  if (principal.scope === 'browser' && keyPolicy.ratePerSec > 0) {
    const network = ipPrefix(c.get('clientIp'), 24, 64);
    const n = l.buckets.take(`keynet:${principal.keyId}:${network}`, networkPolicy(keyPolicy), cost);
    setHeaders(c, n);
    if (!n.allowed) {
      l.counters.rateLimitedKey++;
      if (l.networkTarpitMs > 0) await sleep(l.networkTarpitMs);
      throw new AppError(ErrorCode.RATE_LIMITED, "this browser key is over its event rate limit for your network; retry later", { retryAfter: n.retryAfterSeconds });
    }
  }
  const d = l.buckets.take(`key:${principal.keyId}`, keyPolicy, cost);
  if (d.policy.ratePerSec <= 0) return;
  setHeaders(c, d);
  if (!d.allowed) {
    l.counters.rateLimitedKey++;
    l.onKeyLimited?.(principal.tenantId);
    throw new AppError(ErrorCode.RATE_LIMITED, 'this key is over its event rate limit; retry later', { retryAfter: d.retryAfterSeconds });
  }
}
