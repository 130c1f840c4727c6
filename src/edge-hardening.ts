/**
 * Issue 6's pieces, built once by the composition root (server.ts) so that
 * its own edits stay a few lines: the token buckets and failed-auth
 * throttles, the tenant's privacy rules for the ingest pipeline, the tenant
 * settings store, the plain-HTTP refusal with its exposed-key handling, the
 * connection limits, and their metrics. Everything here is in memory and per
 * edge node; the settings come with the key table.
 */
import { SustainedLimits } from './limits/sustained.ts';
import type { Registry } from 'prom-client';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../schemas/tenant-settings.ts';
import type { AuditLog } from './audit/audit-log.ts';
import type { Authenticator, AuthenticatorOptions, Principal } from './auth/authenticator.ts';
import { FailureThrottle } from './auth/failure-throttle.ts';
import type { KeyTable } from './auth/key-table.ts';
import type { Config } from './config/index.ts';
import type { ControlPlane } from './control/control-plane.ts';
import { EdgeSettingsStore } from './control/edge-settings.ts';
import type { ExposedKey, InsecureTransportDeps } from './http/insecure-transport.ts';
import type { EdgeLimits } from './http/middleware/edge-limits.ts';
import type { TenantSettingsDeps } from './http/routes/tenant-settings.ts';
import type { ConnectionLimits } from './http/transport-limits.ts';
import type { PrivacyContext } from './ingest/pii.ts';
import type { IngestService, RequestMeta } from './ingest/service.ts';
import { TokenBuckets, type BucketPolicy } from './limits/token-bucket.ts';
import type { Logger } from './log/index.ts';
import { registerEdgeMetrics } from './metrics/edge-metrics.ts';
import { PiiKeys, type SecretsProvider } from './secrets/provider.ts';
import type { Warehouse } from './storage/warehouse.ts';

export interface EdgeAppDeps {
  limits: EdgeLimits;
  insecure: InsecureTransportDeps;
  settings: TenantSettingsDeps;
}

export interface EdgeOptions {
  config: Config;
  keys: KeyTable;
  logger: Logger;
  warehouse: Warehouse;
  secrets: SecretsProvider;
  audit?: Pick<AuditLog, 'record' | 'recordDurable'>;
}

export class EdgeHardening {
  readonly settings: EdgeSettingsStore;
  readonly keyThrottle: FailureThrottle;
  readonly ipThrottle: FailureThrottle;
  readonly buckets = new TokenBuckets();
  /** Tenants refused by their per-key limit, and for how long without a break. */
  readonly sustainedLimits = new SustainedLimits();
  readonly piiKeys: PiiKeys;
  readonly counters = {
    rateLimitedIp: 0,
    rateLimitedKey: 0,
    ipThrottleRefusals: 0,
    connectionsRefused: 0,
    autoRevoked: 0,
    plainHttp: {} as Record<string, number>,
    exposed: {} as Record<string, number>,
  };
  readonly connectionLimits: ConnectionLimits;
  private readonly ipPolicy: BucketPolicy;

  constructor(private readonly o: EdgeOptions) {
    const e = o.config.edge;
    this.settings = new EdgeSettingsStore(o.warehouse);
    const window = { windowMs: e.authFailures.windowMs, cooldownMs: e.authFailures.cooldownMs };
    this.keyThrottle = new FailureThrottle({ maxFailures: e.authFailures.keyMax, ...window });
    this.ipThrottle = new FailureThrottle({ maxFailures: e.authFailures.ipMax, ...window });
    this.piiKeys = new PiiKeys(() => o.secrets.current());
    this.ipPolicy = { name: 'ip', ratePerSec: e.ipRate.ratePerSec, burst: e.ipRate.burst };
    this.connectionLimits = {
      headersTimeoutMs: e.headersTimeoutMs,
      requestTimeoutMs: e.requestTimeoutMs,
      maxHeaderBytes: e.maxHeaderBytes,
      maxConnectionsPerIp: e.maxConnectionsPerIp,
      onRefused: () => void this.counters.connectionsRefused++,
    };
  }

  private tenantSettings(tenantId: string): TenantSettings {
    return this.o.keys.tenant(tenantId)?.settings ?? DEFAULT_TENANT_SETTINGS;
  }

  /** What the Authenticator needs for the per-key failure throttle. */
  authOptions(): Pick<AuthenticatorOptions, 'keyThrottle' | 'onKeyThrottled'> {
    return {
      keyThrottle: this.keyThrottle,
      onKeyThrottled: (keyId, tenantId) => this.throttled('key', { keyId, tenantId }),
    };
  }

  private throttled(scope: 'ip' | 'key', who: { keyId?: string; tenantId?: string; ip?: string; requestId?: string }): void {
    const f = this.o.config.edge.authFailures;
    // The audit entry carries the IP (access attempts are logged with it); the technical log does not.
    this.o.audit?.record({
      actor: who.keyId ? `key:${who.keyId}` : 'anonymous',
      tenantId: who.tenantId,
      action: 'auth.throttled',
      target: scope === 'key' ? (who.keyId ?? '') : (who.ip ?? ''),
      outcome: 'denied',
      clientIp: who.ip,
      requestId: who.requestId,
      details: { scope, maxFailures: scope === 'key' ? f.keyMax : f.ipMax, windowMs: f.windowMs, cooldownSeconds: Math.ceil(f.cooldownMs / 1000) },
    });
    this.o.logger.warn({ scope, keyId: who.keyId, tenantId: who.tenantId, cooldownMs: f.cooldownMs }, 'failed-auth cool-down started');
  }

  /** The ingest pipeline's privacy step for one request: read from the in-memory key table, no I/O. */
  readonly privacy = (principal: Principal, meta: RequestMeta): PrivacyContext => {
    const settings = this.tenantSettings(principal.tenantId);
    return {
      settings,
      // The scrubber hashes ids that hold personal data, so it needs the key too.
      hashKey: settings.piiHash.length > 0 || settings.scrubPii ? this.piiKeys.forTenant(principal.tenantId) : undefined,
      doNotTrack: meta.doNotTrack ?? false,
      browser: principal.scope === 'browser',
    };
  };

  private keyPolicy(tenantId: string): BucketPolicy {
    const own = this.tenantSettings(tenantId).rateLimit;
    const d = this.o.config.edge.keyRate;
    return own ? { name: 'key', ratePerSec: own.eventsPerSecond, burst: own.burst } : { name: 'key', ratePerSec: d.ratePerSec, burst: d.burst };
  }

  /** A secret key proven to have crossed plain HTTP: audit, alert, and revoke if its tenant opted in. */
  private async exposed(e: ExposedKey, control: Pick<ControlPlane, 'revokeKey'>, refreshKeys: () => Promise<void>): Promise<void> {
    const { keyId, tenantId } = e.principal;
    this.counters.exposed[e.channel] = (this.counters.exposed[e.channel] ?? 0) + 1;
    const revoke = this.tenantSettings(tenantId).revokeOnPlainHttp;
    this.o.logger.error({ keyId, tenantId, channel: e.channel, requestId: e.requestId, revoke }, 'secret key sent over plain HTTP: treat it as leaked');
    let revoked = false;
    if (revoke) {
      try {
        await control.revokeKey(keyId);
        await refreshKeys();
        revoked = true;
        this.counters.autoRevoked++;
      } catch (err) {
        this.o.logger.error({ keyId, tenantId, errName: (err as Error).name }, 'could not revoke the exposed key; revoke it by hand');
      }
    }
    try {
      await this.o.audit?.recordDurable({
        actor: `key:${keyId}`,
        tenantId,
        action: 'key.exposed',
        target: keyId,
        outcome: 'denied',
        clientIp: e.ip,
        requestId: e.requestId,
        details: { channel: e.channel, revoked },
      });
    } catch (err) {
      this.o.logger.error({ keyId, errName: (err as Error).name }, 'key exposure not yet in the audit log');
    }
  }

  appDeps(o: { auth: Authenticator; control: ControlPlane; refreshKeys: () => Promise<void>; adminActor: string; apiPort: () => number }): EdgeAppDeps {
    const c = this.counters;
    return {
      limits: {
        buckets: this.buckets,
        ipPolicy: this.ipPolicy,
        ipThrottle: this.ipThrottle,
        tarpitMs: this.o.config.edge.authFailures.tarpitMs,
        keyPolicy: (tenantId) => this.keyPolicy(tenantId),
        isKnownOrigin: (origin) => this.o.keys.isKnownOrigin(origin),
        onIpThrottled: (ip, requestId) => this.throttled('ip', { ip, requestId }),
        onKeyLimited: (tenantId) => this.sustainedLimits.refused(tenantId),
        counters: c,
      },
      insecure: {
        auth: o.auth,
        logger: this.o.logger,
        trustedProxies: this.o.config.trustedProxies,
        onExposed: (e) => this.exposed(e, o.control, o.refreshKeys),
        onRefused: (outcome) => void (c.plainHttp[outcome] = (c.plainHttp[outcome] ?? 0) + 1),
        get httpsPort() {
          return o.apiPort();
        },
      },
      settings: { store: this.settings, control: o.control, refreshKeys: o.refreshKeys, audit: this.o.audit, adminActor: o.adminActor, queryCeilings: this.o.config.query },
    };
  }

  registerMetrics(registry: Registry, o: { auth: Authenticator; ingest: IngestService }): void {
    const c = this.counters;
    registerEdgeMetrics(registry, {
      rateLimited: () => ({ ip: c.rateLimitedIp, key: c.rateLimitedKey }),
      longestRateLimitedSeconds: () => this.sustainedLimits.longest()?.seconds ?? 0,
      authThrottle: () => ({
        ipEngaged: this.ipThrottle.counters.engaged,
        keyEngaged: this.keyThrottle.counters.engaged,
        ipRefused: c.ipThrottleRefusals,
        keyRefused: this.keyThrottle.counters.refused,
      }),
      argon2Verifications: () => o.auth.counters.argon2,
      droppedByPolicy: () => o.ingest.droppedByReason,
      botsFlagged: () => o.ingest.privacyCounters.botsFlagged,
      plainHttp: () => c.plainHttp,
      exposedKeys: () => c.exposed,
      autoRevoked: () => c.autoRevoked,
      connectionsRefused: () => c.connectionsRefused,
      secrets: () => this.o.secrets.status(),
    });
  }
}
