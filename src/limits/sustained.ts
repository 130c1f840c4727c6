/**
 * "Rate limiting hitting one tenant for long" (PalisadeTenantRateLimitedSustained): how long
 * each tenant has been refused by its per-key limit without a break. A
 * tenant's streak goes on while it is refused again within `gapMs` of its
 * last refusal, and ends otherwise. /metrics gets the longest streak as one
 * unlabelled gauge (no tenant label: tenants are unbounded); doctor names the
 * tenant. In memory, per edge, bounded (the least recently refused tenant is
 * forgotten past `maxTenants`).
 */
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '../cache/bounded.ts';

interface Streak {
  since: number;
  last: number;
}

export interface LongestStreak {
  tenantId: string;
  seconds: number;
}

export class SustainedLimits {
  private readonly streaks: LRUCache<string, Streak>;

  constructor(
    private readonly o: { gapMs?: number; maxTenants?: number; now?: () => number } = {},
  ) {
    this.streaks = boundedCache(o.maxTenants ?? 10_000);
  }

  private get gapMs(): number {
    return this.o.gapMs ?? 60_000;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** One request of this tenant refused by its per-key bucket. */
  refused(tenantId: string): void {
    const now = this.now();
    const s = this.streaks.get(tenantId);
    if (s && now - s.last <= this.gapMs) s.last = now;
    else this.streaks.set(tenantId, { since: now, last: now });
  }

  /** The tenant refused for the longest unbroken time, among those still being refused. */
  longest(): LongestStreak | null {
    const now = this.now();
    let best: LongestStreak | null = null;
    for (const [tenantId, s] of this.streaks.entries()) {
      if (now - s.last > this.gapMs) continue;
      const seconds = (now - s.since) / 1000;
      if (!best || seconds > best.seconds) best = { tenantId, seconds };
    }
    return best;
  }
}
