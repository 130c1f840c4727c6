/**
 * `palisade doctor`: the first command on-call runs. It asks the running
 * server (admin listener: /healthz, /admin/doctor, /metrics), probes the API
 * listener (/healthz, and the certificate it serves, over node:tls), and
 * prints one line per check: ok, warn or red, and for anything not ok the
 * runbook to open next. Exit 1 when anything is red.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import type { Command } from 'commander';
import type { Config } from '../config/index.ts';
import type { DoctorReport } from '../ops/doctor.ts';
import { ALERT_THRESHOLDS, SCRAPE_ALERTS } from '../ops/alert-thresholds.ts';
import { certificateNotAfter, daysUntilExpiry } from '../tls/certificate.ts';
import { adminClient } from './admin-client.ts';
import { httpsRequest, readText } from './https-request.ts';

export type Status = 'ok' | 'warn' | 'red';
export interface Check {
  name: string;
  status: Status;
  detail: string;
  /** What to do next, for anything not ok. */
  next?: string;
}

const RUNBOOKS = 'ops/runbooks';
// Red where the alert rules of ops/prometheus/alerts.yml page or ticket (one definition:
// src/ops/alert-thresholds.ts); doctor also warns a step earlier than some of them.
const CERT_RED_DAYS = ALERT_THRESHOLDS.PalisadeTlsCertificateExpiring / 86_400;
// A certificate renewal needs lead time: a warning from 30 days.
const CERT_WARN_DAYS = 30;
// Events older than this in the spool mean the flusher is behind or ClickHouse is down.
const SPOOL_AGE_RED_S = ALERT_THRESHOLDS.PalisadeSpoolBacklog;
const SPOOL_FILL_RED = ALERT_THRESHOLDS.PalisadeSpoolNearlyFull;
const DISK_FREE_RED = ALERT_THRESHOLDS.PalisadeDiskNearlyFull;
const DISK_FREE_WARN = 0.2;
// More failed authentications than this per hour is worth a look (a misconfigured client or a scan).
const AUTH_FAILURES_WARN = 100;
// The alert tickets at 300 active parts in a partition; ClickHouse delays inserts into it past
// 1000 (parts_to_delay_insert) and refuses them past 3000; merges normally keep it in the tens.
const PARTS_WARN = ALERT_THRESHOLDS.PalisadeClickHouseTooManyParts;
const PARTS_RED = 1000;
// The chain is checked every minute; three missed checks in a row is a stuck or failing check.
const AUDIT_CHECK_STALE_S = 180;

function runbook(name: string): string {
  return `see ${RUNBOOKS}/${name}.md`;
}

function loopback(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function apiHealth(config: Config, ca: string | undefined): Promise<Check> {
  const url = `https://${hostForUrl(loopback(config.host))}:${config.port}/healthz`;
  // Not verifying the certificate here: "is it up" is a separate question from "is the certificate right" (next check).
  try {
    const res = await httpsRequest(url, { ca, rejectUnauthorized: false, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });
    await readText(res);
    return res.statusCode === 200
      ? { name: 'service up (api)', status: 'ok', detail: `${url} 200` }
      : { name: 'service up (api)', status: 'red', detail: `${url} HTTP ${res.statusCode}`, next: runbook('PalisadeDown') };
  } catch (err) {
    return { name: 'service up (api)', status: 'red', detail: `${url}: ${(err as Error).message}`, next: runbook('PalisadeDown') };
  }
}

function peerCertificate(host: string, port: number, ca: string | undefined): Promise<{ cert: PeerCertificate; authorized: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const servername = /^[\d.:]+$/.test(host) ? undefined : host;
    const socket = connect({ host, port, servername, ca, rejectUnauthorized: false, timeout: 5_000 }, () => {
      const cert = socket.getPeerCertificate();
      resolve({ cert, authorized: socket.authorized, error: socket.authorizationError?.message });
      socket.end();
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

async function certificate(config: Config, ca: string | undefined): Promise<Check> {
  const host = loopback(config.host);
  try {
    const { cert } = await peerCertificate(host, config.port, ca);
    const notAfter = certificateNotAfter(cert.raw);
    const days = daysUntilExpiry(notAfter);
    const detail = `expires ${notAfter.toISOString()} (${days.toFixed(1)} days)`;
    if (days < CERT_RED_DAYS) return { name: 'TLS certificate', status: 'red', detail, next: runbook('PalisadeTlsCertificateExpiring') };
    if (days < CERT_WARN_DAYS) return { name: 'TLS certificate', status: 'warn', detail, next: runbook('PalisadeTlsCertificateExpiring') };
    return { name: 'TLS certificate', status: 'ok', detail };
  } catch (err) {
    return { name: 'TLS certificate', status: 'red', detail: `cannot read the certificate on ${host}:${config.port}: ${(err as Error).message}`, next: runbook('PalisadeDown') };
  }
}

function age(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The server's own facts, judged. */
export function judge(r: DoctorReport): Check[] {
  const out: Check[] = [];
  out.push(
    r.clickhouse.ok
      ? { name: 'clickhouse', status: 'ok', detail: `${r.clickhouse.kind}, version ${r.clickhouse.version ?? 'unknown'}` }
      : { name: 'clickhouse', status: 'red', detail: `${r.clickhouse.kind} ClickHouse does not answer a ping`, next: runbook('PalisadeClickHouseUnreachable') },
  );
  if (!r.migrations.ok) out.push({ name: 'migrations', status: 'warn', detail: r.migrations.error, next: runbook('PalisadeClickHouseUnreachable') });
  else if (r.migrations.pending.length > 0)
    out.push({ name: 'migrations', status: 'warn', detail: `pending: ${r.migrations.pending.join(', ')} (applied at the next start)`, next: 'restart the edge, or run `palisade migrate`' });
  else out.push({ name: 'migrations', status: 'ok', detail: 'none pending' });

  const s = r.spool;
  const fill = s.maxBytes > 0 ? s.bytes / s.maxBytes : 0;
  const spoolDetail = `${s.records} records, ${s.bytes} bytes (${(fill * 100).toFixed(1)}% of cap), oldest ${age(s.oldestAgeSeconds)}`;
  if (fill >= SPOOL_FILL_RED) out.push({ name: 'spool', status: 'red', detail: spoolDetail, next: runbook('PalisadeSpoolNearlyFull') });
  else if (s.oldestAgeSeconds > SPOOL_AGE_RED_S) out.push({ name: 'spool', status: 'red', detail: spoolDetail, next: runbook('PalisadeSpoolBacklog') });
  else out.push({ name: 'spool', status: 'ok', detail: spoolDetail });
  if (s.quarantined > 0) out.push({ name: 'spool quarantine', status: 'warn', detail: `${s.quarantined} records quarantined`, next: runbook('PalisadeSpoolQuarantine') });

  const f = r.flusher;
  out.push(
    f.healthy
      ? { name: 'flusher', status: 'ok', detail: `last success ${f.lastSuccessAt ? new Date(f.lastSuccessAt).toISOString() : 'not yet'}` }
      : { name: 'flusher', status: 'red', detail: `${f.consecutiveFailures} failed cycles in a row`, next: runbook('PalisadeFlushFailing') },
  );

  if (!r.deadLetters.ok) out.push({ name: 'dead letters (24 h)', status: 'warn', detail: r.deadLetters.error });
  else if (r.deadLetters.last24h > 0)
    out.push({ name: 'dead letters (24 h)', status: 'warn', detail: `${r.deadLetters.last24h} rows`, next: runbook('PalisadeDeadLetters') });
  else out.push({ name: 'dead letters (24 h)', status: 'ok', detail: '0 rows' });

  if (!r.authFailures.ok) out.push({ name: 'auth failures (1 h)', status: 'warn', detail: r.authFailures.error });
  else {
    const top = r.authFailures.topIps.map((t) => `${t.ip || '(none)'}×${t.count}`).join(', ');
    const detail = `${r.authFailures.lastHour}${top ? `; top IPs: ${top}` : ''}`;
    out.push(
      r.authFailures.lastHour > AUTH_FAILURES_WARN
        ? { name: 'auth failures (1 h)', status: 'warn', detail, next: runbook('PalisadeAuthFailureSpike') }
        : { name: 'auth failures (1 h)', status: 'ok', detail },
    );
  }

  const anomalies = anomalyCheck(r);
  if (anomalies) out.push(anomalies);
  out.push(rateLimitCheck(r));

  out.push(backupCheck(r));
  const chain = auditChainCheck(r);
  if (chain) out.push(chain);
  const parts = partsCheck(r);
  if (parts) out.push(parts);

  if (!r.disk.ok) out.push({ name: 'disk', status: 'red', detail: r.disk.error, next: runbook('PalisadeDiskNearlyFull') });
  else {
    const detail = `${(r.disk.freeRatio * 100).toFixed(1)}% free (${(r.disk.freeBytes / 2 ** 30).toFixed(1)} GiB) on ${r.disk.path}`;
    const status: Status = r.disk.freeRatio < DISK_FREE_RED ? 'red' : r.disk.freeRatio < DISK_FREE_WARN ? 'warn' : 'ok';
    out.push({ name: 'disk', status, detail, ...(status === 'ok' ? {} : { next: runbook('PalisadeDiskNearlyFull') }) });
  }
  return out;
}

/** Access anomalies in the audit trail (last 24 h): a warning to look at, not a red (the watch only observes). */
function anomalyCheck(r: DoctorReport): Check | undefined {
  const a = r.anomalies;
  // Absent from a server older than this CLI.
  if (!a) return undefined;
  const name = 'access anomalies (24 h)';
  if (!a.ok) return { name, status: 'warn', detail: a.error };
  if (a.last24h === 0) return { name, status: 'ok', detail: 'none' };
  const kinds = Object.entries(a.byKind).map(([k, n]) => `${k}×${n}`).join(', ');
  const last = a.latest[0];
  const detail = `${a.last24h} (${kinds})${last ? `; latest ${last.kind} at ${last.at} UTC, tenant ${last.tenantId}, key ${last.keyId}` : ''}`;
  return { name, status: 'warn', detail, next: runbook('PalisadeAccessAnomaly') };
}

/** PalisadeTenantRateLimitedSustained fires at 30 minutes (ALERT_THRESHOLDS); doctor warns from 5 and names the tenant. */
function rateLimitCheck(r: DoctorReport): Check {
  const name = 'rate limiting';
  const l = r.rateLimited;
  if (!l) return { name, status: 'ok', detail: 'no tenant is being refused by its per-key limit' };
  const detail = `tenant ${l.tenantId} refused by its per-key limit for ${age(l.seconds)} without a break`;
  return l.seconds >= 300 ? { name, status: 'warn', detail, next: runbook('PalisadeTenantRateLimitedSustained') } : { name, status: 'ok', detail };
}

function backupCheck(r: DoctorReport): Check {
  const b = r.backups;
  const name = 'backups';
  const next = runbook('PalisadeBackupTooOld');
  const last = b.lastSuccessAt ? Date.parse(b.lastSuccessAt) : null;
  if (b.lastFailureAt && (last === null || Date.parse(b.lastFailureAt) > last))
    return { name, status: 'red', detail: `last backup failed at ${b.lastFailureAt}: ${b.lastError ?? 'unknown error'}`, next };
  if (b.lastVerifyOk === false) {
    const why = b.lastVerifyError ? `it could not be restored (${b.lastVerifyError})` : 'its scratch restore did not match what was backed up, or did not restore';
    const detail = `VERIFICATION FAILED for ${b.lastVerifiedId ?? '?'} at ${b.lastVerifiedAt ?? '?'}: ${why}`;
    return { name, status: 'red', detail, next: `do not restore from it; take and verify a new one (\`palisade backup create\`, \`palisade backup verify <id>\`); ${runbook('PalisadeBackupVerificationFailed')}` };
  }
  if (b.intervalMs === null) return { name, status: 'warn', detail: 'scheduled backups are off (PALISADE_BACKUP_INTERVAL)', next };
  if (last === null) {
    // A new node has had no chance to back up yet.
    return r.uptimeSeconds * 1000 > 2 * b.intervalMs ? { name, status: 'red', detail: 'no successful backup', next } : { name, status: 'ok', detail: 'none yet (node is new)' };
  }
  const ageMs = Date.now() - last;
  const verified =
    b.lastVerifiedAt === null
      ? 'never verified'
      : `${b.lastVerifyOk ? 'verified' : 'VERIFICATION FAILED for'} ${b.lastVerifiedId ?? '?'} ${age((Date.now() - Date.parse(b.lastVerifiedAt)) / 1000)} ago`;
  const detail = `last success ${b.lastSuccessAt} (${age(ageMs / 1000)} ago, id ${b.lastSuccessId ?? '?'}); ${verified}`;
  if (ageMs > 2 * b.intervalMs) return { name, status: 'red', detail, next };
  // Scheduled backups are verified as they are made; none verified for two intervals means that is not happening.
  const verifiedMs = b.lastVerifiedAt === null ? null : Date.now() - Date.parse(b.lastVerifiedAt);
  if (verifiedMs === null ? r.uptimeSeconds * 1000 > 2 * b.intervalMs : verifiedMs > 2 * b.intervalMs)
    return { name, status: 'warn', detail, next: `run \`palisade backup verify ${b.lastSuccessId ?? '<id>'}\` (a scratch restore); PALISADE_BACKUP_VERIFY verifies scheduled backups` };
  return { name, status: 'ok', detail };
}

function auditChainCheck(r: DoctorReport): Check | undefined {
  const a = r.auditChain;
  if (!a) return undefined;
  const name = 'audit chain';
  if (!a.ok) {
    const first = a.firstProblem ? `; first: ${a.firstProblem.kind} at entry ${a.firstProblem.seq}` : '';
    return { name, status: 'red', detail: `${a.problems} problem(s) in node ${a.nodeId}'s chain${first}`, next: `run \`palisade audit verify\`; ${runbook('PalisadeAuditChainBroken')}` };
  }
  const ageS = a.lastVerifiedAt === null ? null : (Date.now() - a.lastVerifiedAt) / 1000;
  if (ageS === null || ageS > AUDIT_CHECK_STALE_S) {
    // A new node's first check may still be running.
    if (ageS === null && r.uptimeSeconds < AUDIT_CHECK_STALE_S) return { name, status: 'ok', detail: 'first check running' };
    const when = ageS === null ? 'never verified' : `last verified ${age(ageS)} ago`;
    return { name, status: 'warn', detail: `${when}${a.lastError ? ` (last attempt: ${a.lastError})` : ''}`, next: runbook('PalisadeAuditChainUnverified') };
  }
  return { name, status: 'ok', detail: `intact through entry ${a.verifiedSeq} (head ${r.audit.seq}), checked ${age(ageS)} ago` };
}

function partsCheck(r: DoctorReport): Check | undefined {
  const p = r.parts;
  if (!p) return undefined;
  const name = 'clickhouse parts';
  if (!p.sample) return p.lastError ? { name, status: 'warn', detail: `not sampled: ${p.lastError}`, next: runbook('PalisadeClickHouseUnreachable') } : undefined;
  const worst = [...p.sample.tables].sort((a, b) => b.maxPartsPerPartition - a.maxPartsPerPartition)[0];
  if (!worst) return { name, status: 'ok', detail: 'no tables sampled' };
  const events = p.sample.tables.find((t) => t.table === 'events');
  const detail = `max ${worst.maxPartsPerPartition} active parts in one partition of ${worst.table}${events ? `; events: ${events.activeParts} parts in ${events.partitions} partitions` : ''}`;
  const status: Status = worst.maxPartsPerPartition >= PARTS_RED ? 'red' : worst.maxPartsPerPartition >= PARTS_WARN ? 'warn' : 'ok';
  return { name, status, detail, ...(status === 'ok' ? {} : { next: runbook('PalisadeClickHouseTooManyParts') }) };
}

/** Alert conditions read from the exposition, mirroring ops/prometheus/alerts.yml where one scrape can tell. */
export function alertsFromMetrics(text: string): Check[] {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const series = line.slice(0, i);
    const name = series.replace(/\{.*$/, '');
    values.set(name, (values.get(name) ?? 0) + Number(line.slice(i + 1)));
  }
  const v = (n: string) => values.get(n) ?? 0;
  const rules: [string, boolean, string][] = SCRAPE_ALERTS.map((r) => [r.alert, v(r.metric) > 0, r.detail(v(r.metric))]);
  const firing = rules.filter(([, on]) => on);
  if (firing.length === 0) return [{ name: 'alert conditions', status: 'ok', detail: 'none active in /metrics' }];
  return firing.map(([alert, , detail]) => ({ name: `alert ${alert}`, status: alert === 'PalisadeIngestionRefusing' ? 'warn' : 'red', detail, next: runbook(alert) }));
}

async function trustAnchor(config: Config): Promise<string | undefined> {
  try {
    return await readFile(config.tls.certFile ?? path.join(config.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  } catch {
    return undefined;
  }
}

export async function runDoctor(config: Config): Promise<Check[]> {
  const ca = await trustAnchor(config);
  const checks: Check[] = [];
  const [api, cert] = await Promise.all([apiHealth(config, ca), certificate(config, ca)]);
  let admin;
  try {
    admin = await adminClient(config);
    await admin.call('GET', '/healthz');
    checks.push({ name: 'service up (admin)', status: 'ok', detail: `admin listener on port ${config.adminPort} answers` });
  } catch (err) {
    checks.push({ name: 'service up (admin)', status: 'red', detail: (err as Error).message, next: runbook('PalisadeDown') });
    admin = undefined;
  }
  checks.push(api, cert);
  if (!admin) {
    checks.push({ name: 'server checks', status: 'red', detail: 'skipped: the admin listener did not answer', next: runbook('PalisadeDown') });
    return checks;
  }
  try {
    checks.push(...judge(await admin.call<DoctorReport>('GET', '/admin/doctor')));
  } catch (err) {
    checks.push({ name: 'server checks', status: 'red', detail: (err as Error).message, next: runbook('PalisadeDown') });
  }
  try {
    const host = loopback(config.adminHost);
    const res = await httpsRequest(`https://${hostForUrl(host)}:${config.adminPort}/metrics`, { ca, rejectUnauthorized: false, headersTimeoutMs: 5_000, bodyTimeoutMs: 10_000 });
    const text = await readText(res);
    checks.push(...alertsFromMetrics(text));
  } catch (err) {
    checks.push({ name: 'alert conditions', status: 'warn', detail: `cannot read /metrics: ${(err as Error).message}` });
  }
  return checks;
}

const MARK: Record<Status, string> = { ok: ' ok ', warn: 'warn', red: 'RED ' };

export function registerDoctorCommand(program: Command, config: () => Config): void {
  program
    .command('doctor')
    .description('check this edge end to end (listeners, certificate, ClickHouse, spool, flusher, backups, disk, alerts); exit 1 if anything is red')
    .option('--json', 'print machine-readable JSON')
    .action(async (o: { json?: boolean }) => {
      const checks = await runDoctor(config());
      const ok = checks.every((c) => c.status !== 'red');
      if (o.json) process.stdout.write(JSON.stringify({ ok, checks }) + '\n');
      else {
        const width = Math.max(...checks.map((c) => c.name.length));
        for (const c of checks) {
          process.stdout.write(`[${MARK[c.status]}] ${c.name.padEnd(width)}  ${c.detail}\n`);
          if (c.next) process.stdout.write(`       ${' '.repeat(width)}  → ${c.next}\n`);
        }
        process.stdout.write(ok ? 'doctor: nothing red\n' : 'doctor: something is red (see → lines)\n');
      }
      if (!ok) process.exitCode = 1;
    });
}
