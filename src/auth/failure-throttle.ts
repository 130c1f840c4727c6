/**
 * Failed-authentication throttling: after `maxFailures` failures
 * from one client IP, or against one key id, within `windowMs`, further
 * attempts are refused for `cooldownMs` without any work: no argon2, no key
 * lookup. A 128-bit secret is not guessable at any rate; what this protects
 * is CPU, because each wrong secret for a real key id costs ~25 ms of argon2.
 *
 * In memory, per edge node, bounded (the least recently seen id is forgotten
 * past `maxKeys`). The Authenticator consults this only on a cache miss, right
 * before argon2, and not for a client address that verified the key's secret
 * recently on this edge (until it sends a wrong one): a key id's cool-down
 * does not lock out an owner already using the key.
 */
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '../cache/bounded.ts';

export interface ThrottlePolicy {
  maxFailures: number;
  windowMs: number;
  cooldownMs: number;
}

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

export interface FailureThrottleOptions {
  maxKeys?: number;
  now?: () => number;
}

export class FailureThrottle {
  private readonly entries: LRUCache<string, Entry>;
  private readonly now: () => number;
  /** Cool-downs started, and attempts refused during one. */
  readonly counters = { engaged: 0, refused: 0 };

  constructor(
    readonly policy: ThrottlePolicy,
    o: FailureThrottleOptions = {},
  ) {
    this.entries = boundedCache(o.maxKeys ?? 100_000);
    this.now = o.now ?? Date.now;
  }

  /** Whole seconds left in this id's cool-down (at least 1), or 0 when it may try. Counts a refusal. */
  blockedFor(id: string): number {
    const e = this.entries.get(id);
    if (!e || e.blockedUntil <= this.now()) return 0;
    this.counters.refused++;
    return Math.max(1, Math.ceil((e.blockedUntil - this.now()) / 1000));
  }

  /** Whether this id is in a cool-down now (no side effects). */
  isBlocked(id: string): boolean {
    const e = this.entries.peek(id);
    return e !== undefined && e.blockedUntil > this.now();
  }

  /** Records one failure; true when it started a cool-down (audit and alert then, once). */
  fail(id: string): boolean {
    if (this.policy.maxFailures <= 0) return false;
    const now = this.now();
    const e = this.entries.get(id);
    if (!e || now - e.windowStart >= this.policy.windowMs) {
      this.entries.set(id, { windowStart: now, failures: 1, blockedUntil: 0 });
      return this.engageIfOver(this.entries.get(id), now);
    }
    if (e.blockedUntil > now) return false;
    e.failures++;
    return this.engageIfOver(e, now);
  }

  private engageIfOver(e: Entry | undefined, now: number): boolean {
    if (!e || e.failures < this.policy.maxFailures) return false;
    e.blockedUntil = now + this.policy.cooldownMs;
    // The next window starts after the cool-down: its failures count afresh.
    e.windowStart = e.blockedUntil;
    e.failures = 0;
    this.counters.engaged++;
    return true;
  }
}
