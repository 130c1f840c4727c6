/**
 * The edge: who may come in and how fast. The key table (refreshed from the
 * control plane every few seconds, with each tenant's edge settings, so the
 * hot path reads no database), the authenticator, the token buckets and
 * failed-auth throttles, the plain-HTTP refusal with its exposed-key handling,
 * the connection limits and the access anomaly watch. Everything here is in
 * memory and per edge node.
 */
import type { Registry } from 'prom-client';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../../schemas/tenant-settings.ts';
import { anomalyReporter } from '../anomaly/report.ts';
import { AccessWatch } from '../anomaly/watch.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { Authenticator } from '../auth/authenticator.ts';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import { KeyTable } from '../auth/key-table.ts';
import type { Config } from '../config/index.ts';
import { ControlPlane } from '../control/control-plane.ts';
import { EdgeSettingsStore } from '../control/edge-settings.ts';
import { adminActor } from '../http/audit-hooks.ts';
import type { EdgeAppDeps, ExposedKey } from '../http/edge-deps.ts';
import type { ConnectionLimits } from '../http/transport-limits.ts';
import type { IngestService } from '../ingest/service.ts';
import { TenantPrivacy } from '../ingest/tenant-privacy.ts';
import { SustainedLimits } from '../limits/sustained.ts';
import { TokenBuckets, type BucketPolicy } from '../limits/token-bucket.ts';
import type { Logger } from '../log/index.ts';
import { registerEdgeMetrics } from '../metrics/edge-metrics.ts';
import { PiiKeys, type SecretsProvider } from '../secrets/provider.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module } from '../runner.ts';

/** The control-plane tables the key table is read from (ControlPlane.snapshot, EdgeSettingsStore.all). */
const KEY_TABLE_SOURCES = ['api_keys', 'tenants', 'tenant_edge_settings'] as const;
/**
 * The timer reloads at least this often even when the stamp says nothing
 * changed: a bound on what a stamp could ever hide (two part sets with the
 * same count and hash sum), and a reload of whatever a storage accident left.
 */
const FULL_RELOAD_MS = 30_000;

export interface EdgeOptions {
  config: Config;
  logger: Logger;
  /** The admin login: keys, tenants and their settings live in the control plane. */
  warehouse: Warehouse;
  secrets: SecretsProvider;
  adminToken: string;
  audit: Pick<AuditLog, 'record' | 'recordDurable'>;
}

export class EdgeModule implements Module {
  readonly name = 'edge';
  readonly control: ControlPlane;
  readonly keys = new KeyTable();
  readonly auth: Authenticator;
  /** `admin:adm_<digest prefix>`: who the admin token is in the audit trail. */
  readonly adminActor: string;
  /** The access anomaly watch, fed by the API app; absent when PALISADE_ANOMALY_WATCH=false. */
  readonly anomalies: AccessWatch | undefined;
  /** The ingest pipeline's per-request privacy rules, read from the key table. */
  readonly privacy: TenantPrivacy;
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
  private keyTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly o: EdgeOptions) {
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
    this.control = new ControlPlane(o.warehouse);
    this.adminActor = adminActor(o.adminToken);
    this.privacy = new TenantPrivacy(this.keys, this.piiKeys);
    this.auth = new Authenticator({
      keys: this.keys,
      cacheTtlMs: o.config.auth.cacheTtlMs,
      argon2Concurrency: o.config.auth.argon2Concurrency,
      keyThrottle: this.keyThrottle,
      onKeyThrottled: (keyId, tenantId) => this.throttled('key', { keyId, tenantId }),
    });
    const anomaly = o.config.anomaly;
    this.anomalies = anomaly ? new AccessWatch({ policy: anomaly, report: anomalyReporter({ audit: o.audit, logger: o.logger }) }) : undefined;
  }

  /** Loads the key table once: nothing listens before it is loaded. */
  static async open(o: EdgeOptions): Promise<EdgeModule> {
    const edge = new EdgeModule(o);
    await edge.refreshKeys();
    return edge;
  }

  private refreshesStarted = 0;
  private newestApplied = 0;
  /** The control plane's change stamp when the applied table was read, and when that was. */
  private appliedStamp: string | undefined;
  private appliedAt = 0;
  /**
   * Re-reads keys, tenants and their edge settings; called after every admin
   * change and by the timer when the stamp moved, so two can overlap. The
   * later-started one read the newer state: an earlier one that finishes
   * after it is dropped, or a key made (or revoked) between the two would
   * vanish (or come back) until the next refresh. The stamp is read first: a
   * change landing between it and the snapshot moves the next stamp, and
   * costs one more reload, never a missed change.
   */
  readonly refreshKeys = async (): Promise<void> => {
    await this.reload(await this.control.changeStamp(KEY_TABLE_SOURCES));
  };

  /** The timer's refresh: a reload when the stamp moved, and at least every FULL_RELOAD_MS whatever it says. */
  private async refreshIfChanged(): Promise<void> {
    const stamp = await this.control.changeStamp(KEY_TABLE_SOURCES);
    if (stamp === this.appliedStamp && Date.now() - this.appliedAt < FULL_RELOAD_MS) return;
    await this.reload(stamp);
  }

  /** Reads the key table and applies it unless a later-started reload already applied a newer one; `stamp` was read before. */
  private async reload(stamp: string): Promise<void> {
    const started = ++this.refreshesStarted;
    const table = await this.settings.attach(await this.control.snapshot());
    if (started < this.newestApplied) return;
    this.newestApplied = started;
    this.keys.replace(table);
    this.appliedStamp = stamp;
    this.appliedAt = Date.now();
  }

  start(): void {
    this.keyTimer = setInterval(() => {
      this.refreshIfChanged().catch((err: Error) => this.o.logger.warn({ errName: err.name }, 'key table refresh failed; keeping the previous table'));
    }, this.o.config.auth.keyRefreshMs);
    this.keyTimer.unref();
  }

  drain(): void {
    clearInterval(this.keyTimer);
  }

  async stop(): Promise<void> {
    await this.auth.close();
  }

  health(): { keys: number } {
    return { keys: this.keys.size };
  }

  private tenantSettings(tenantId: string): TenantSettings {
    return this.keys.tenant(tenantId)?.settings ?? DEFAULT_TENANT_SETTINGS;
  }

  private throttled(scope: 'ip' | 'key', who: { keyId?: string; tenantId?: string; ip?: string; requestId?: string }): void {
    const f = this.o.config.edge.authFailures;
    // The audit entry carries the IP (access attempts are logged with it); the technical log does not.
    this.o.audit.record({
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

  private keyPolicy(tenantId: string): BucketPolicy {
    const own = this.tenantSettings(tenantId).rateLimit;
    const d = this.o.config.edge.keyRate;
    return own ? { name: 'key', ratePerSec: own.eventsPerSecond, burst: own.burst } : { name: 'key', ratePerSec: d.ratePerSec, burst: d.burst };
  }

  /** A secret key proven to have crossed plain HTTP: audit, alert, and revoke if its tenant opted in. */
  private async exposed(e: ExposedKey): Promise<void> {
    const { keyId, tenantId } = e.principal;
    this.counters.exposed[e.channel] = (this.counters.exposed[e.channel] ?? 0) + 1;
    const revoke = this.tenantSettings(tenantId).revokeOnPlainHttp;
    this.o.logger.error({ keyId, tenantId, channel: e.channel, requestId: e.requestId, revoke }, 'secret key sent over plain HTTP: treat it as leaked');
    let revoked = false;
    if (revoke) {
      try {
        await this.control.revokeKey(keyId);
        await this.refreshKeys();
        revoked = true;
        this.counters.autoRevoked++;
      } catch (err) {
        this.o.logger.error({ keyId, tenantId, errName: (err as Error).name }, 'could not revoke the exposed key; revoke it by hand');
      }
    }
    try {
      await this.o.audit.recordDurable({
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

  /** The HTTP layer's edge dependencies; `httpsPort` is where a plain-HTTP caller is told to go. */
  appDeps(httpsPort: () => number): EdgeAppDeps {
    const c = this.counters;
    return {
      limits: {
        buckets: this.buckets,
        ipPolicy: this.ipPolicy,
        ipThrottle: this.ipThrottle,
        tarpitMs: this.o.config.edge.authFailures.tarpitMs,
        networkTarpitMs: this.o.config.edge.networkTarpitMs,
        keyPolicy: (tenantId) => this.keyPolicy(tenantId),
        isKnownOrigin: (origin) => this.keys.isKnownOrigin(origin),
        onIpThrottled: (ip, requestId) => this.throttled('ip', { ip, requestId }),
        onKeyLimited: (tenantId) => this.sustainedLimits.refused(tenantId),
        counters: c,
      },
      insecure: {
        auth: this.auth,
        logger: this.o.logger,
        trustedProxies: this.o.config.trustedProxies,
        onExposed: (e) => this.exposed(e),
        onRefused: (outcome) => void (c.plainHttp[outcome] = (c.plainHttp[outcome] ?? 0) + 1),
        get httpsPort() {
          return httpsPort();
        },
      },
      settings: { store: this.settings, control: this.control, refreshKeys: this.refreshKeys, audit: this.o.audit, adminActor: this.adminActor, queryCeilings: this.o.config.query },
    };
  }

  registerMetrics(registry: Registry, o: { ingest: IngestService }): void {
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
      argon2Verifications: () => this.auth.counters.argon2,
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
