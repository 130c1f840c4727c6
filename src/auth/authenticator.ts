/**
 * Turns a credential into a principal (tenant, key, scope), or refuses it.
 * Order of checks is chosen so that nothing expensive happens for garbage:
 * format and CRC32 first, then the in-memory key table (unknown ids never
 * reach argon2), then a cache of recently verified tokens (SHA-256 of the
 * token, short TTL), and only then argon2id under a small concurrency cap.
 *
 * A key id under attack (its failed-secret cool-down engaged) should not lock
 * its owner out: a cached token keeps its entry alive while it is used, and a
 * client address (IPv6: its /64) that verified this key's current secret on
 * this edge in the last 24 h may still reach argon2 during the cool-down,
 * until it sends one wrong secret. An owner on a new address, or on an edge
 * it has not used (the table is per edge, in memory), waits out the cool-down.
 */
import { hash } from 'node:crypto';
import argon2 from 'argon2';
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '../cache/bounded.ts';
import pLimit from 'p-limit';
import { Argon2Verifier } from './argon2-verifier.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { clientKey } from '../net/ip-prefix.ts';
import type { FailureThrottle } from './failure-throttle.ts';
import type { KeyTable } from './key-table.ts';
import { parseToken, type Scope } from './tokens.ts';

// OWASP's argon2id profile: 19 MiB, 2 passes, 1 lane (~25 ms here).
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface Principal {
  tenantId: string;
  keyId: string;
  scope: Scope;
}

export type AuthFailureReason =
  | 'missing'
  | 'malformed'
  | 'bad_checksum'
  | 'unknown_key'
  | 'wrong_secret'
  | 'revoked'
  | 'overloaded'
  | 'throttled';

export class AuthFailure extends AppError {
  constructor(
    readonly reason: AuthFailureReason,
    readonly keyId: string | undefined,
    code: ErrorCode,
    message: string,
    retryAfter?: number,
  ) {
    super(code, message, retryAfter === undefined ? {} : { retryAfter });
  }
}

export interface AuthenticatorOptions {
  keys: KeyTable;
  cacheTtlMs: number;
  argon2Concurrency: number;
  /** Verifications allowed to wait for a slot; past this, refuse at once. */
  maxQueued?: number;
  /** Wrong secrets per key id: past its limit, a key id's cache misses are refused without argon2. */
  keyThrottle?: FailureThrottle;
  /** A key id's cool-down just started (audit and alert; called once per cool-down). */
  onKeyThrottled?: (keyId: string, tenantId: string) => void;
  /** How long a client address that verified a key may bypass that key's cool-down (default 24 h). */
  knownClientTtlMs?: number;
}

/** Where the credential came from: the client address as resolved from the socket or trusted proxies. */
export interface AuthContext {
  ip?: string;
}

export class Authenticator {
  /** SHA-256 of a verified token → the argon2 hash it was verified against (a re-keyed secret misses). */
  private readonly cache: LRUCache<string, string> | undefined;
  /** `${keyId} ${ip}` pairs that verified recently. */
  private readonly knownClients: LRUCache<string, true>;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly verifier: Argon2Verifier;
  private readonly maxQueued: number;
  readonly counters = { argon2: 0, cacheHits: 0, knownClientBypass: 0 };
  /**
   * argon2 runs in flight, by token digest and hash. A client opening 32
   * keep-alive connections sends 32 first requests with one credential before
   * any is cached; they wait for the one run (~25 ms of CPU each here, 0.8 s
   * for the burst) instead of each starting its own. Only a success is shared:
   * a request whose shared run failed makes its own check, so failure
   * counting and throttling stay per request.
   */
  private readonly verifying = new Map<string, Promise<boolean>>();

  constructor(private readonly o: AuthenticatorOptions) {
    // updateAgeOnGet: an active client never falls out of the cache (and into a
    // cool-down an attacker keeps engaged); revocation is checked before the cache.
    this.cache = o.cacheTtlMs > 0 ? boundedCache(100_000, { ttl: o.cacheTtlMs, updateAgeOnGet: true }) : undefined;
    this.knownClients = boundedCache(100_000, { ttl: o.knownClientTtlMs ?? 24 * 3_600_000 });
    this.limit = pLimit(o.argon2Concurrency);
    this.verifier = new Argon2Verifier(o.argon2Concurrency);
    this.maxQueued = o.maxQueued ?? 256;
  }

  static hashSecret(secret: string): Promise<string> {
    return argon2.hash(secret, ARGON2_OPTIONS);
  }

  /** Ends the verifier process (src/auth/argon2-verifier.ts). */
  async close(): Promise<void> {
    await this.verifier.close();
  }

  async authenticate(token: string | undefined, ctx: AuthContext = {}): Promise<Principal> {
    if (!token) throw new AuthFailure('missing', undefined, ErrorCode.UNAUTHORIZED, 'credentials required: HTTP Basic or Bearer with a Palisade key');
    const parsed = parseToken(token);
    if (parsed === 'malformed') throw new AuthFailure('malformed', undefined, ErrorCode.MALFORMED_CREDENTIAL, 'the credential is not a Palisade key');
    if (parsed === 'bad_checksum') throw new AuthFailure('bad_checksum', undefined, ErrorCode.MALFORMED_CREDENTIAL, 'the credential checksum does not match: it was mistyped or truncated');

    const record = this.o.keys.key(parsed.keyId);
    if (!record) throw new AuthFailure('unknown_key', parsed.keyId, ErrorCode.INVALID_CREDENTIAL, 'invalid credential');
    if (!this.o.keys.activeKey(parsed.keyId)) throw new AuthFailure('revoked', parsed.keyId, ErrorCode.REVOKED_CREDENTIAL, 'this key has been revoked');

    if (parsed.kind === 'publishable') {
      if (record.scope !== 'browser') throw new AuthFailure('malformed', parsed.keyId, ErrorCode.INVALID_CREDENTIAL, 'invalid credential');
      return { tenantId: record.tenantId, keyId: record.id, scope: record.scope };
    }
    if (record.scope === 'browser' || record.secretHash === '') {
      throw new AuthFailure('wrong_secret', parsed.keyId, ErrorCode.INVALID_CREDENTIAL, 'invalid credential');
    }

    const digest = hash('sha256', parsed.token, 'base64');
    if (this.cache?.get(digest) === record.secretHash) {
      this.counters.cacheHits++;
      return { tenantId: record.tenantId, keyId: record.id, scope: record.scope };
    }
    // Keyed to the key's current hash (a new secret starts afresh) and to the client's
    // network (an IPv6 /64, like every other limit); never for an unknown peer address.
    const knownKey = ctx.ip ? `${record.id} ${clientKey(ctx.ip)} ${record.secretHash.slice(-22)}` : undefined;
    const known = knownKey !== undefined && this.knownClients.has(knownKey);
    const wait = known ? 0 : (this.o.keyThrottle?.blockedFor(record.id) ?? 0);
    if (wait > 0) {
      throw new AuthFailure('throttled', parsed.keyId, ErrorCode.RATE_LIMITED, 'too many failed attempts for this key; retry later', wait);
    }
    const flight = `${digest} ${record.secretHash}`;
    const shared = this.verifying.get(flight);
    if (shared && (await shared.catch(() => false))) {
      if (knownKey !== undefined) this.knownClients.set(knownKey, true);
      return { tenantId: record.tenantId, keyId: record.id, scope: record.scope };
    }
    if (this.limit.pendingCount >= this.maxQueued) {
      throw new AuthFailure('overloaded', parsed.keyId, ErrorCode.RATE_LIMITED, 'too many credential checks in progress; retry shortly', 1);
    }
    const run = this.limit(async () => {
      // Checked again at its turn: attempts queued while the key's cool-down started never reach argon2.
      // A known address that just sent a wrong secret has lost its pass (below): the rest of its burst waits too.
      const stillKnown = known && knownKey !== undefined && this.knownClients.has(knownKey);
      const late = stillKnown ? 0 : (this.o.keyThrottle?.blockedFor(record.id) ?? 0);
      if (late > 0) throw new AuthFailure('throttled', parsed.keyId, ErrorCode.RATE_LIMITED, 'too many failed attempts for this key; retry later', late);
      this.counters.argon2++;
      if (stillKnown && (this.o.keyThrottle?.isBlocked(record.id) ?? false)) this.counters.knownClientBypass++;
      return await this.verifier.verify(record.secretHash, parsed.secret);
    });
    if (!this.verifying.has(flight)) {
      this.verifying.set(flight, run);
      const forget = () => {
        if (this.verifying.get(flight) === run) this.verifying.delete(flight);
      };
      run.then(forget, forget);
    }
    const ok = await run;
    if (!ok) {
      // One strike: a wrong secret from a known address (a neighbour behind the same NAT,
      // say) ends that address's pass; from then on it waits out the cool-down like anyone.
      if (knownKey !== undefined) this.knownClients.delete(knownKey);
      if (this.o.keyThrottle?.fail(record.id)) this.o.onKeyThrottled?.(record.id, record.tenantId);
      throw new AuthFailure('wrong_secret', parsed.keyId, ErrorCode.INVALID_CREDENTIAL, 'invalid credential');
    }
    this.cache?.set(digest, record.secretHash);
    if (knownKey !== undefined) this.knownClients.set(knownKey, true);
    return { tenantId: record.tenantId, keyId: record.id, scope: record.scope };
  }
}
