/**
 * What the server knows about its own health, for `palisade doctor` (GET
 * /admin/doctor on the admin listener). Facts only; the CLI decides what is
 * red. Every warehouse call has its own short timeout and its own catch, so
 * one broken part (ClickHouse down, the audit table missing) never hides the
 * rest: on-call needs the whole picture most when something is down.
 */
import type { FlusherStatus } from '../spool/flusher.ts';
import type { SpoolStats } from '../spool/spool.ts';
import { migrationStatus } from '../storage/migrations.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { ChainMonitorStatus } from '../audit/chain-monitor.ts';
import type { BackupStatus } from './backup.ts';
import { certificateNotAfter, daysUntilExpiry } from '../tls/certificate.ts';
import { diskSpace } from './disk.ts';
import type { PartsSample } from './parts.ts';

export interface DoctorSources {
  warehouse: Warehouse;
  spool: () => SpoolStats;
  spoolMaxBytes: number;
  flusher: () => FlusherStatus;
  backups: () => BackupStatus;
  backupIntervalMs: number | null;
  audit: () => { nodeId: string; seq: number };
  /** The background audit chain check (src/audit/chain-monitor.ts). */
  auditChain?: () => ChainMonitorStatus;
  /** The last parts-per-partition sample (src/ops/parts.ts). */
  parts?: () => { sample: PartsSample | null; lastError?: string };
  /** The tenant refused longest by its per-key limit without a break (src/limits/sustained.ts). */
  rateLimited?: () => { tenantId: string; seconds: number } | null;
  dataDir: string;
  tlsCertPem: string;
  startedAt: number;
}

export type Probe<T> = ({ ok: true } & T) | { ok: false; error: string };

// 5 s: a healthy warehouse answers these in milliseconds; a slow one is itself the finding.
const TIMEOUT_MS = 5_000;

async function probe<T>(fn: () => Promise<T>): Promise<Probe<T>> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    // The class and a short message only: a warehouse error never carries event data, but keep it brief.
    return { ok: false, error: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300) };
  }
}

export function certificateExpiry(pem: string): { validTo: string; expiresAt: number } {
  const notAfter = certificateNotAfter(pem);
  return { validTo: notAfter.toISOString(), expiresAt: notAfter.getTime() };
}

export async function diagnose(s: DoctorSources) {
  const wh = s.warehouse;
  const ping = await wh.ping();
  const [migrations, deadLetters, authFailures, disk, anomalies] = await Promise.all([
    probe(async () => ({ pending: (await migrationStatus(wh)).pending.map((m) => m.name) })),
    probe(async () => {
      const rows = await wh.query<{ n: string }>('SELECT count() AS n FROM dead_letters WHERE at > now() - INTERVAL 1 DAY', { timeoutMs: TIMEOUT_MS });
      return { last24h: Number(rows[0]?.n ?? 0) };
    }),
    probe(async () => {
      // Failed and throttled authentications in the last hour, by client IP. Failures are audited as
      // one row per (minute, IP, key, reason) carrying details.count, written when the minute closes:
      // up to a minute behind.
      const weight = "if(action = 'auth.failure', greatest(JSONExtractUInt(details, 'count'), 1), 1)";
      const where = "action IN ('auth.failure', 'auth.throttled') AND at > now() - INTERVAL 1 HOUR";
      const rows = await wh.query<{ ip: string; n: string }>(
        `SELECT client_ip AS ip, sum(${weight}) AS n FROM audit_log WHERE ${where} GROUP BY ip ORDER BY n DESC LIMIT 5`,
        { timeoutMs: TIMEOUT_MS },
      );
      const total = await wh.query<{ n: string }>(`SELECT sum(${weight}) AS n FROM audit_log WHERE ${where}`, { timeoutMs: TIMEOUT_MS });
      return { lastHour: Number(total[0]?.n ?? 0), topIps: rows.map((r) => ({ ip: r.ip, count: Number(r.n) })) };
    }),
    probe(async () => ({ path: s.dataDir, ...diskSpace(s.dataDir) })),
    probe(async () => {
      // Access anomalies (src/anomaly/watch.ts) in the last day, from every edge's audit chain.
      const where = "action = 'access.anomaly' AND at > now() - INTERVAL 1 DAY";
      const byKind = await wh.query<{ kind: string; n: string }>(
        `SELECT JSONExtractString(details, 'kind') AS kind, count() AS n FROM audit_log WHERE ${where} GROUP BY kind ORDER BY kind`,
        { timeoutMs: TIMEOUT_MS },
      );
      // `when`, not `at`: an alias named like the column would shadow it in WHERE.
      const latest = await wh.query<{ when: string; tenant_id: string; target: string; kind: string }>(
        `SELECT toString(at) AS when, tenant_id, target, JSONExtractString(details, 'kind') AS kind FROM audit_log WHERE ${where} ORDER BY audit_log.at DESC LIMIT 5`,
        { timeoutMs: TIMEOUT_MS },
      );
      return {
        last24h: byKind.reduce((n, r) => n + Number(r.n), 0),
        byKind: Object.fromEntries(byKind.map((r) => [r.kind, Number(r.n)])) as Record<string, number>,
        latest: latest.map((r) => ({ at: r.when, tenantId: r.tenant_id, keyId: r.target, kind: r.kind })),
      };
    }),
  ]);
  const spool = s.spool();
  let tls: Probe<{ validTo: string; daysLeft: number }>;
  try {
    const e = certificateExpiry(s.tlsCertPem);
    tls = { ok: true, validTo: e.validTo, daysLeft: daysUntilExpiry(new Date(e.expiresAt)) };
  } catch (err) {
    tls = { ok: false, error: (err as Error).message };
  }
  return {
    now: new Date().toISOString(),
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    clickhouse: { ok: ping.ok, kind: wh.kind, version: ping.version ?? null },
    migrations,
    spool: {
      bytes: spool.bytes,
      maxBytes: s.spoolMaxBytes,
      records: spool.records,
      oldestAgeSeconds: spool.oldestAppendedAt === null ? 0 : Math.max(0, (Date.now() - spool.oldestAppendedAt) / 1000),
      quarantined: spool.quarantined,
    },
    flusher: s.flusher(),
    deadLetters,
    authFailures,
    anomalies,
    backups: { ...s.backups(), intervalMs: s.backupIntervalMs },
    audit: s.audit(),
    auditChain: s.auditChain?.() ?? null,
    parts: s.parts?.() ?? null,
    rateLimited: s.rateLimited?.() ?? null,
    disk,
    tls,
  };
}

export type DoctorReport = Awaited<ReturnType<typeof diagnose>>;
