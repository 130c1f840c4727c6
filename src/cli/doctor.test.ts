import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DoctorReport } from '../ops/doctor.ts';
import { alertsFromMetrics, judge } from './doctor.ts';

function healthy(): DoctorReport {
  return {
    now: new Date().toISOString(),
    uptimeSeconds: 60,
    clickhouse: { ok: true, kind: 'embedded', version: '25.1.1' },
    migrations: { ok: true, pending: [] },
    spool: { bytes: 0, maxBytes: 1000, records: 0, oldestAgeSeconds: 0, quarantined: 0 },
    flusher: {
      healthy: true, consecutiveFailures: 0, lastSuccessAt: Date.now(), rowsFlushed: 0, rowsInserted: 0, duplicatesSkipped: 0,
      deadLettered: 0, deadLetteredByReason: { guard_violation: 0, clickhouse_rejected: 0, undecodable: 0 }, guardViolations: 0,
    },
    deadLetters: { ok: true, last24h: 0 },
    authFailures: { ok: true, lastHour: 0, topIps: [] },
    backups: { lastSuccessAt: null, lastSuccessId: null, lastFullSuccessAt: null, lastFailureAt: null, lastError: null, intervalMs: 86_400_000 },
    audit: { nodeId: 'n1', seq: 1 },
    disk: { ok: true, path: '/data', freeBytes: 500, totalBytes: 1000, freeRatio: 0.5 },
    tls: { ok: true, validTo: new Date().toISOString(), daysLeft: 300 },
  } as DoctorReport;
}

const red = (r: DoctorReport) => judge(r).filter((c) => c.status === 'red');

test('a healthy new node is all green', () => {
  assert.deepEqual(red(healthy()), []);
});

test('each broken part turns its own check red and points at its runbook', () => {
  const cases: [string, (r: DoctorReport) => void, string, string][] = [
    ['clickhouse', (r) => (r.clickhouse = { ok: false, kind: 'server', version: null }), 'clickhouse', 'PalisadeClickHouseUnreachable'],
    ['spool fill', (r) => (r.spool.bytes = 900), 'spool', 'PalisadeSpoolNearlyFull'],
    ['spool age', (r) => (r.spool.oldestAgeSeconds = 600), 'spool', 'PalisadeSpoolBacklog'],
    ['flusher', (r) => (r.flusher = { ...r.flusher, healthy: false, consecutiveFailures: 9 }), 'flusher', 'PalisadeFlushFailing'],
    ['backup failed', (r) => Object.assign(r.backups, { lastFailureAt: new Date().toISOString(), lastError: 'disk full' }), 'backups', 'PalisadeBackupTooOld'],
    ['backup old', (r) => Object.assign(r.backups, { lastSuccessAt: new Date(Date.now() - 3 * 86_400_000).toISOString() }), 'backups', 'PalisadeBackupTooOld'],
    ['never backed up on an old node', (r) => (r.uptimeSeconds = 3 * 86_400), 'backups', 'PalisadeBackupTooOld'],
    ['disk', (r) => (r.disk = { ok: true, path: '/data', freeBytes: 50, totalBytes: 1000, freeRatio: 0.05 }), 'disk', 'PalisadeDiskNearlyFull'],
  ];
  for (const [what, breakIt, check, runbook] of cases) {
    const r = healthy();
    breakIt(r);
    const reds = red(r);
    assert.deepEqual(reds.map((c) => c.name), [check], what);
    assert.equal(reds[0]?.next, `see ops/runbooks/${runbook}.md`, what);
  }
});

test('dead letters and auth failures warn without failing the exit code', () => {
  const r = healthy();
  r.deadLetters = { ok: true, last24h: 3 };
  r.authFailures = { ok: true, lastHour: 500, topIps: [{ ip: '203.0.113.9', count: 480 }] };
  const checks = judge(r);
  assert.deepEqual(red(r), []);
  assert.equal(checks.find((c) => c.name === 'dead letters (24 h)')?.status, 'warn');
  assert.match(checks.find((c) => c.name === 'auth failures (1 h)')?.detail ?? '', /203\.0\.113\.9×480/);
});

test('alert conditions are read from the exposition', () => {
  assert.deepEqual(alertsFromMetrics('# HELP x\npalisade_keys_exposed_total{channel="a"} 0\n').map((c) => c.status), ['ok']);
  const firing = alertsFromMetrics('palisade_keys_exposed_total{channel="a"} 1\npalisade_storage_guard_violations_total 2\n');
  assert.deepEqual(firing.map((c) => [c.name, c.status]), [
    ['alert PalisadeKeyExposedOnPlainHttp', 'red'],
    ['alert PalisadeStorageGuardViolation', 'red'],
  ]);
});
