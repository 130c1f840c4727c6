/**
 * The access anomaly watch: an in-process observer of the same
 * access facts the audit trail records, raising an anomaly when access looks
 * wrong. Plain TypeScript with an injected clock; src/http/middleware/
 * access-watch.ts feeds it after each API request, report.ts turns an anomaly
 * into an audit entry and a log line, and the composition root exposes the
 * counts as palisade_access_anomalies_total{kind}.
 *
 * Rules (thresholds: Config['anomaly'], PALISADE_ANOMALY_*; 0 turns a rule off):
 *  - new_ips: a secret (ingest) or query key used from ≥ newIps IP prefixes
 *    (/24 IPv4, /48 IPv6: one network, so a client hopping inside its
 *    provider's block is not "new") it had not used before, within `windowMs`.
 *    Not for publishable browser keys: every visitor of the tenant's site
 *    brings a new IP, so for them "many new IPs" is the normal case.
 *  - new_countries: the same with countries, when a trusted proxy tells us the
 *    country (PALISADE_COUNTRY_HEADER), over `countryWindowMs`.
 *    Both learn for `learningMs` after this node first sees a key: what it
 *    sees then becomes "known" without counting (a server fleet, a new deploy).
 *  - foreign_origin: a publishable key refused ≥ foreignOrigin times within the
 *    window for coming from an origin outside its tenant's allowlist (someone
 *    copied the snippet, or the allowlist lost an entry).
 *  - secret_key_in_browser: a secret ingest key on a request that a browser
 *    sent (Origin or Sec-Fetch-Site present): the server secret sits in a web
 *    page, readable by every visitor. Once is enough.
 *  - credential_stuffing: ≥ authFailures failed authentications from one client
 *    (IPv4 address, IPv6 /64) or against one existing key id within the
 *    window, then a success of a secret key from that client or for that key.
 *  - query_spike: a tenant's query calls in the current minute (queryBucketMs)
 *    above queryFactor × its baseline (an EWMA of its per-minute counts) and
 *    above queryFloor, once this node has watched the tenant for
 *    queryWarmupMs and for at least one whole minute (no baseline, no judgement).
 *
 * Each (kind, key or tenant) raises at most once per `cooldownMs`.
 *
 * Cost: every observation is O(1): a few LRU lookups and a ring-buffer write.
 * Memory is bounded: every table is an LRU with a fixed maximum (see MAX_*),
 * so a flood of keys, IPs or tenants evicts the least recently seen instead
 * of growing. State is per edge node and in memory: after a restart every
 * key learns again, and N edges behind a load balancer each see ~1/N of the
 * traffic (divide thresholds accordingly, as docs/hardening.md says for the
 * rate limits).
 */
import { isIP } from 'node:net';
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '../cache/bounded.ts';
import { clientKey, ipPrefix } from '../net/ip-prefix.ts';
import type { Scope } from '../auth/tokens.ts';
import { Ring } from './ring.ts';
import type { AnomalyPolicy } from '../config/index.ts';

export const ANOMALY_KINDS = ['new_ips', 'new_countries', 'foreign_origin', 'secret_key_in_browser', 'credential_stuffing', 'query_spike'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export type { AnomalyPolicy };

export interface Anomaly {
  kind: AnomalyKind;
  tenantId: string;
  keyId?: string;
  /** The client IP of the request that completed the pattern (audit only, never a log line). */
  clientIp?: string;
  requestId?: string;
  /** Counts, windows and validated values only: never a raw header. */
  details: Record<string, string | number | boolean | string[]>;
}

export interface AuthenticatedAccess {
  keyId: string;
  tenantId: string;
  scope: Scope;
  ip: string;
  /** ISO 3166 alpha-2 from a trusted proxy, already validated; absent when unknown. */
  country?: string;
  /** The request was sent by a browser (Origin or Sec-Fetch-Site present). */
  fromBrowser: boolean;
  /** The Origin is one of the tenant's allowed origins. */
  originAllowed: boolean;
  /** The Origin, when it is a well-formed origin (for the audit entry). */
  origin?: string;
  requestId: string;
}

// Bounds: the least recently seen entry goes first. Every table filled at once
// (400k distinct IPs, 60k keys, 30k tenants, default thresholds) measured
// ~66 MiB of heap here; a real edge holds a small fraction of that. An evicted
// key starts learning again (quieter); an evicted known prefix counts as new
// when it comes back (noisier, but only after 100k fresher pairs displaced it).
const MAX_KEYS = 50_000;
const MAX_KNOWN = 100_000;
const MAX_CLIENTS = 20_000;
const MAX_TENANTS = 20_000;
// Audit details name at most this many prefixes or countries.
const MAX_LISTED = 10;
// Query baseline: an EWMA over one-minute buckets with a 30-minute span
// (alpha = 2 / (30 + 1)): slow enough that a spike barely moves it, quick
// enough to follow a tenant whose dashboards grow over a day.
const QUERY_ALPHA = 2 / 31;

interface KeyState {
  firstSeen: number;
  newPrefixes?: Ring;
  newCountries?: Ring;
  originRefusals?: Ring;
  failures?: Ring;
}

interface TenantQueries {
  firstSeen: number;
  minute: number;
  count: number;
  /** undefined until the first minute completes. */
  baseline: number | undefined;
}

export interface AccessWatchOptions {
  policy: AnomalyPolicy;
  report: (a: Anomaly) => void;
  now?: () => number;
}

export class AccessWatch {
  /** Anomalies raised, by kind (palisade_access_anomalies_total). */
  readonly counts: Record<AnomalyKind, number> = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, 0])) as Record<AnomalyKind, number>;
  /** Anomalies not raised again because their (kind, subject) was in its cool-down. */
  suppressed = 0;
  private readonly keys = boundedCache<string, KeyState>(MAX_KEYS);
  private readonly known = boundedCache<string, true>(MAX_KNOWN);
  private readonly clients = boundedCache<string, Ring>(MAX_CLIENTS);
  private readonly tenants = boundedCache<string, TenantQueries>(MAX_TENANTS);
  private readonly raised: LRUCache<string, number>;
  private readonly now: () => number;
  private readonly p: AnomalyPolicy;

  constructor(private readonly o: AccessWatchOptions) {
    this.p = o.policy;
    this.now = o.now ?? Date.now;
    // (kind, subject) → end of its cool-down, on the injected clock (lru-cache's own ttl reads the real one).
    this.raised = boundedCache(MAX_KEYS);
  }

  private key(id: string, now: number): KeyState {
    let s = this.keys.get(id);
    if (!s) {
      s = { firstSeen: now };
      this.keys.set(id, s);
    }
    return s;
  }

  /** A credential was verified (whatever the route did next). */
  authenticated(a: AuthenticatedAccess): void {
    const now = this.now();
    const s = this.key(a.keyId, now);
    // A publishable key carries no secret: its "success" after failures proves nothing (and an
    // office NAT with one misconfigured server would raise whenever a colleague opened the site).
    if (a.scope !== 'browser') this.stuffingCheck(a, s, now);
    if (a.scope === 'ingest' && a.fromBrowser) {
      this.raise({
        kind: 'secret_key_in_browser',
        tenantId: a.tenantId,
        keyId: a.keyId,
        clientIp: a.ip,
        requestId: a.requestId,
        details: { scope: a.scope, originAllowed: a.originAllowed, ...(a.origin ? { origin: a.origin } : {}) },
      });
    }
    // Publishable keys: every visitor is a new IP and maybe a new country (see the header).
    if (a.scope === 'browser') return;
    const learning = now - s.firstSeen < this.p.learningMs;
    const family = isIP(a.ip);
    const prefix = family ? ipPrefix(a.ip, 24, 48) : '';
    if (prefix && this.p.newIps > 0 && this.firstTime(`${a.keyId} ${prefix}`) && !learning) {
      s.newPrefixes ??= new Ring(this.p.newIps, true);
      s.newPrefixes.push(now, `${prefix}/${family === 4 ? 24 : 48}`);
      if (s.newPrefixes.full(now, this.p.windowMs)) {
        this.raise({
          kind: 'new_ips',
          tenantId: a.tenantId,
          keyId: a.keyId,
          clientIp: a.ip,
          requestId: a.requestId,
          details: { newPrefixes: this.p.newIps, windowSeconds: this.p.windowMs / 1000, prefixes: s.newPrefixes.recentLabels(MAX_LISTED) },
        });
        s.newPrefixes.clear();
      }
    }
    if (a.country && this.p.newCountries > 0 && this.firstTime(`${a.keyId} country:${a.country}`) && !learning) {
      s.newCountries ??= new Ring(this.p.newCountries, true);
      s.newCountries.push(now, a.country);
      if (s.newCountries.full(now, this.p.countryWindowMs)) {
        this.raise({
          kind: 'new_countries',
          tenantId: a.tenantId,
          keyId: a.keyId,
          clientIp: a.ip,
          requestId: a.requestId,
          details: { newCountries: this.p.newCountries, windowSeconds: this.p.countryWindowMs / 1000, countries: s.newCountries.recentLabels(MAX_LISTED) },
        });
        s.newCountries.clear();
      }
    }
  }

  /** True the first time (key, value) is seen; remembers it. */
  private firstTime(id: string): boolean {
    if (this.known.get(id)) return false;
    this.known.set(id, true);
    return true;
  }

  /**
   * A failed authentication that looks like guessing (not a missing header,
   * not our own overload). `keyId` only when that key exists: an unknown id
   * is the attacker's choice and would only fill the table.
   */
  authFailed(f: { ip: string; keyId?: string }): void {
    if (this.p.authFailures <= 0) return;
    const now = this.now();
    if (f.ip) {
      const id = clientKey(f.ip);
      let r = this.clients.get(id);
      if (!r) {
        r = new Ring(this.p.authFailures);
        this.clients.set(id, r);
      }
      r.push(now);
    }
    if (f.keyId) {
      const s = this.key(f.keyId, now);
      s.failures ??= new Ring(this.p.authFailures);
      s.failures.push(now);
    }
  }

  private stuffingCheck(a: AuthenticatedAccess, s: KeyState, now: number): void {
    if (this.p.authFailures <= 0) return;
    const client = a.ip ? this.clients.get(clientKey(a.ip)) : undefined;
    const by = client?.full(now, this.p.windowMs) ? 'ip' : s.failures?.full(now, this.p.windowMs) ? 'key' : undefined;
    if (!by) return;
    // The burst is accounted for: the next success needs a new one.
    if (by === 'ip') client?.clear();
    else s.failures?.clear();
    this.raise({
      kind: 'credential_stuffing',
      tenantId: a.tenantId,
      keyId: a.keyId,
      clientIp: a.ip,
      requestId: a.requestId,
      details: { failuresBeforeSuccess: this.p.authFailures, windowSeconds: this.p.windowMs / 1000, by },
    });
  }

  /** A publishable key refused because the request's origin is not in its tenant's allowlist. */
  originRefused(r: { keyId: string; tenantId: string; ip: string; origin?: string; requestId: string }): void {
    if (this.p.foreignOrigin <= 0) return;
    const now = this.now();
    const s = this.key(r.keyId, now);
    s.originRefusals ??= new Ring(this.p.foreignOrigin);
    s.originRefusals.push(now);
    if (!s.originRefusals.full(now, this.p.windowMs)) return;
    s.originRefusals.clear();
    this.raise({
      kind: 'foreign_origin',
      tenantId: r.tenantId,
      keyId: r.keyId,
      clientIp: r.ip,
      requestId: r.requestId,
      details: { refusals: this.p.foreignOrigin, windowSeconds: this.p.windowMs / 1000, ...(r.origin ? { origin: r.origin } : { origin: '(none)' }) },
    });
  }

  /** One query API call by an authenticated query key. */
  queried(q: { tenantId: string; keyId: string; ip: string; requestId: string }): void {
    if (this.p.queryFloor <= 0 && this.p.queryFactor <= 0) return;
    const now = this.now();
    const bucketMs = Math.max(1_000, this.p.queryBucketMs);
    const minute = Math.floor(now / bucketMs);
    let t = this.tenants.get(q.tenantId);
    if (!t) {
      t = { firstSeen: now, minute, count: 0, baseline: undefined };
      this.tenants.set(q.tenantId, t);
    }
    if (t.minute !== minute) {
      // Fold the finished minute, then the idle minutes since (zero queries each).
      const b = t.baseline === undefined ? t.count : t.baseline + QUERY_ALPHA * (t.count - t.baseline);
      const idle = Math.max(0, minute - t.minute - 1);
      t.baseline = b * Math.pow(1 - QUERY_ALPHA, Math.min(idle, 10_000));
      t.minute = minute;
      t.count = 0;
    }
    t.count++;
    if (now - t.firstSeen < this.p.queryWarmupMs || t.baseline === undefined) return;
    const baseline = t.baseline;
    if (t.count <= this.p.queryFloor || t.count <= this.p.queryFactor * baseline) return;
    this.raise({
      kind: 'query_spike',
      tenantId: q.tenantId,
      keyId: q.keyId,
      clientIp: q.ip,
      requestId: q.requestId,
      details: {
        queriesInBucket: t.count,
        baselinePerBucket: Math.round(baseline * 100) / 100,
        bucketSeconds: bucketMs / 1000,
        factor: this.p.queryFactor,
        floor: this.p.queryFloor,
        bucketStart: new Date(minute * bucketMs).toISOString(),
      },
    });
  }

  private raise(a: Anomaly): void {
    // query_spike is about the tenant (several keys may share the load); the rest about one key.
    const subject = `${a.kind} ${a.kind === 'query_spike' ? a.tenantId : (a.keyId ?? a.tenantId)}`;
    const now = this.now();
    if ((this.raised.get(subject) ?? 0) > now) {
      this.suppressed++;
      return;
    }
    this.raised.set(subject, now + this.p.cooldownMs);
    this.counts[a.kind]++;
    this.o.report(a);
  }
}
