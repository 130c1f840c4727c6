/**
 * Token buckets per key (a client IP, an API key id), in memory, per edge
 * node. Hand-written rather than taken from a library: what we need is a
 * variable cost (a batch of N events), a per-key policy read at call time (a
 * tenant setting that changes without a restart), the numbers the RateLimit
 * headers report (remaining, seconds to full, seconds to retry), and a hard
 * bound on memory; `limiter` is timer-based and keyless, and
 * `rate-limiter-flexible` counts fixed windows with a fixed policy per
 * instance. The whole algorithm is the ten lines of `refill` and `take`.
 *
 * Semantics: a request is admitted while the bucket holds at least one token,
 * and then pays its full cost, which may take the bucket below zero. A batch
 * bigger than the burst therefore still goes through once, and the debt makes
 * the next requests wait it off; the long-run rate never exceeds the policy.
 */
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '../cache/bounded.ts';

export interface BucketPolicy {
  /** Name in the RateLimit headers ("ip", "key"). */
  name: string;
  /** Tokens added per second; 0 means no limit. */
  ratePerSec: number;
  /** Bucket size: how much may be spent at once after a quiet spell. */
  burst: number;
}

export interface Decision {
  allowed: boolean;
  policy: BucketPolicy;
  /** Whole tokens left after this call. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one token is there (when refused). */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export interface TokenBucketsOptions {
  /** Keys remembered; the least recently used is forgotten past this (and starts full when seen again). */
  maxKeys?: number;
  now?: () => number;
}

const UNLIMITED = (policy: BucketPolicy): Decision => ({ allowed: true, policy, remaining: policy.burst, resetSeconds: 0, retryAfterSeconds: 0 });

export class TokenBuckets {
  // 100k keys ≈ 10 MB: more distinct clients than one node sees in a refill window.
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly now: () => number;

  constructor(o: TokenBucketsOptions = {}) {
    this.buckets = boundedCache(o.maxKeys ?? 100_000);
    this.now = o.now ?? Date.now;
  }

  private refill(key: string, policy: BucketPolicy): Bucket {
    const now = this.now();
    const b = this.buckets.get(key);
    if (!b) {
      const fresh = { tokens: policy.burst, at: now };
      this.buckets.set(key, fresh);
      return fresh;
    }
    b.tokens = Math.min(policy.burst, b.tokens + ((now - b.at) / 1000) * policy.ratePerSec);
    b.at = now;
    return b;
  }

  private decision(b: Bucket, policy: BucketPolicy, allowed: boolean): Decision {
    return {
      allowed,
      policy,
      remaining: Math.max(0, Math.floor(b.tokens)),
      resetSeconds: Math.max(0, Math.ceil((policy.burst - b.tokens) / policy.ratePerSec)),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / policy.ratePerSec)),
    };
  }

  /** Admits and charges `cost` tokens if at least one is there. */
  take(key: string, policy: BucketPolicy, cost = 1): Decision {
    if (policy.ratePerSec <= 0) return UNLIMITED(policy);
    const b = this.refill(key, policy);
    if (b.tokens < 1) return this.decision(b, policy, false);
    b.tokens -= cost;
    return this.decision(b, policy, true);
  }

  /** Would a request be admitted now? Charges nothing (a cheap check before reading a body). */
  peek(key: string, policy: BucketPolicy): Decision {
    if (policy.ratePerSec <= 0) return UNLIMITED(policy);
    const b = this.refill(key, policy);
    return this.decision(b, policy, b.tokens >= 1);
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** `RateLimit-Policy` item (draft-ietf-httpapi-ratelimit-headers): quota = burst, window = seconds to refill it. */
export function policyHeader(p: BucketPolicy): string {
  return `"${p.name}";q=${p.burst};w=${Math.max(1, Math.ceil(p.burst / p.ratePerSec))}`;
}

/** `RateLimit` item: what is left and when the bucket is full again. */
export function rateLimitHeader(d: Decision): string {
  return `"${d.policy.name}";r=${d.remaining};t=${d.resetSeconds}`;
}
