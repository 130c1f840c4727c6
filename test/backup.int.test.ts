/**
 * Backups on the real engine: encrypted files, verify by restoring into a
 * scratch database, a backup → destroy → restore round trip that gives back
 * the same rows (equal checksums), a restore that never resurrects a user
 * deleted since, scheduled backups visible for alerting, expiry, and a
 * migration that refuses to run when its backup fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { partitionSums } from '../src/ops/backup-plan.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { listFiles as files } from './helpers/engine.ts';
import { metric } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, runCli, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const ENV = { PALISADE_BACKUP_INTERVAL: '3s' };
const CANARY = `canary-${randomBytes(6).toString('hex')}`;
let p: Palisade;
let a: CreatedTenant;
let b: CreatedTenant;
let firstBackup: string;

before(async () => {
  p = await startPalisade({ env: ENV });
});

after(async () => {
  if (p.proc.exitCode === null) await p.kill();
  unbreak();
  await removeDir(p.dataDir);
});

let unbreak = () => {};

/**
 * Makes the backup disk refuse writes: the directory made immutable (which
 * stops root too), or where chattr is not permitted, the backup destination
 * pointed at a disk the engine does not allow backups on. Returns the env
 * the CLI needs for the broken state.
 */
function breakBackupDisk(dir: string): Record<string, string> {
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    unbreak = () => {
      try {
        execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
      } catch {
        /* already repaired */
      }
    };
    return {};
  } catch {
    return { PALISADE_BACKUP_DISK: 'plain' };
  }
}

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as T;
}

async function exported(token: string): Promise<{ record: string; data?: { user_id?: string } }[]> {
  const r = await p.api('GET', '/v1/export', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, r.text);
  return r.text.trim().split('\n').map((l) => JSON.parse(l) as { record: string; data?: { user_id?: string } });
}

async function restart(): Promise<void> {
  p = await startPalisade({ dataDir: p.dataDir, env: ENV });
}

test('a backup is encrypted, listed and verified partition by partition; scheduled backups show in /healthz', async () => {
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const batch = (users: string[]) => ({ batch: users.map((u, i) => ({ type: 'track', event: 'Viewed', userId: u, properties: { note: CANARY, i } })) });
  assert.equal((await p.api('POST', '/v1/batch', { body: batch(['u1', 'u1', 'u2', 'u3']), headers: basic(a.keys.ingest) })).status, 200);
  assert.equal((await p.api('POST', '/v1/batch', { body: batch(['b1', 'b2']), headers: basic(b.keys.ingest) })).status, 200);
  await waitFor(async () => (await stats(p, a.tenant.id)).events === 4 && (await stats(p, b.tenant.id)).events === 2, 5_000, 'events stored');

  const created = json<{ backup: { id: string; status: string; tables: string[]; bytes: number } }>(await p.cli(['backup', 'create', '--json']));
  firstBackup = created.backup.id;
  assert.equal(created.backup.status, 'ok');
  assert.ok(created.backup.tables.includes('events') && created.backup.tables.includes('api_keys'));
  assert.ok(created.backup.bytes > 0);

  const dir = path.join(p.dataDir, 'backups', 'encrypted', firstBackup);
  const backupFiles = await files(dir);
  assert.ok(backupFiles.length > 10);
  for (const f of backupFiles) {
    const bytes = await readFile(f);
    assert.ok(!bytes.includes(CANARY) && !bytes.includes(a.tenant.id) && !bytes.includes('CREATE TABLE'), `${f} holds plaintext`);
  }

  const verified = json<{ ok: boolean; partitionsChecked: number; mismatches: unknown[] }>(await p.cli(['backup', 'verify', firstBackup, '--json']));
  assert.deepEqual([verified.ok, verified.mismatches], [true, []]);
  assert.ok(verified.partitionsChecked >= 3, `${verified.partitionsChecked} partitions`);

  const tenantBackup = json<{ backup: { id: string; scope: string; tenantId: string; tables: string[] } }>(await p.cli(['backup', 'create', '--tenant', a.tenant.id, '--json']));
  assert.deepEqual([tenantBackup.backup.scope, tenantBackup.backup.tenantId], ['tenant', a.tenant.id]);
  assert.ok(!tenantBackup.backup.tables.includes('audit_log'));

  const health = await waitFor(async () => {
    const h = await p.admin<{ backups: { lastFullSuccessAt: string | null } }>('GET', '/healthz');
    const list = json<{ backups: { reason: string; status: string }[] }>(await p.cli(['backup', 'list', '--json']));
    return list.backups.some((x) => x.reason === 'scheduled' && x.status === 'ok') && h.body;
  }, 15_000, 'a scheduled backup');
  assert.ok(health.backups.lastFullSuccessAt);
});

test('backup → destroy → restore gives back the same rows, with equal checksums', async () => {
  assert.equal(await p.stop(), 0);
  let wh = await openDataDir(p.dataDir);
  const before = await partitionSums(wh, 'palisade', 'events');
  assert.ok(before.length >= 2);
  // The disaster: every event partition and every key gone.
  for (const part of before) await wh.command(`ALTER TABLE events DROP PARTITION ID '${part.partition}'`);
  await wh.command('TRUNCATE TABLE api_keys');
  await wh.close();

  await restart();
  assert.equal((await p.api('GET', '/v1/audit', { headers: { authorization: `Bearer ${a.keys.query}` } })).status, 401);
  const restored = json<{ backupId: string; preRestoreBackupId: string; tables: { table: string; how: string }[] }>(
    await p.cli(['backup', 'restore', firstBackup, '--json']),
  );
  assert.equal(restored.backupId, firstBackup);
  assert.match(restored.preRestoreBackupId, /^bak_/);
  assert.equal(restored.tables.find((t) => t.table === 'events')?.how, 'partitions replaced');
  assert.equal(restored.tables.find((t) => t.table === 'api_keys')?.how, 'merged by version');
  // Keys are back on this edge at once (no event sent: the checksums below must not move).
  assert.equal((await p.api('GET', '/v1/audit', { headers: { authorization: `Bearer ${a.keys.query}` } })).status, 200);

  assert.equal(await p.stop(), 0);
  wh = await openDataDir(p.dataDir);
  try {
    assert.deepEqual(await partitionSums(wh, 'palisade', 'events'), before);
  } finally {
    await wh.close();
  }
  await restart();
});

test('a restore (here of one tenant) never brings back a user deleted after the backup', async () => {
  const backup = json<{ backup: { id: string } }>(await p.cli(['backup', 'create', '--json']));
  const deleted = json<{ receipt: { receiptId: string; eventsDeleted: number; backupId: string } }>(await p.cli(['user', 'delete', 'u1', '--tenant', a.tenant.id, '--json']));
  assert.equal(deleted.receipt.eventsDeleted, 2);
  const restored = json<{ tenantId: string; deletionsReapplied: number; tables: { table: string; how: string }[] }>(
    await p.cli(['backup', 'restore', backup.backup.id, '--tenant', a.tenant.id, '--json']),
  );
  assert.equal(restored.tenantId, a.tenant.id);
  assert.equal(restored.deletionsReapplied, 1);
  assert.equal(restored.tables.find((t) => t.table === 'dead_letters')?.how, "tenant's rows replaced");
  const users = (await exported(a.keys.query)).filter((l) => l.record === 'event').map((l) => l.data?.user_id);
  assert.deepEqual(users.sort(), ['u2', 'u3']);
  assert.equal((await stats(p, b.tenant.id)).events, 2, 'the other tenant is untouched');
});

test('scheduled backups are verified as they are made; a damaged backup fails verification: metric 0, doctor red, audited', async () => {
  // Scheduled backups (every 3 s here) are restored into a scratch database right after they are made.
  const scheduled = await waitFor(async () => {
    const list = json<{ backups: { id: string; reason: string; verifyOk: boolean | null; verifiedAt: string | null }[] }>(await p.cli(['backup', 'list', '--json']));
    return list.backups.find((x) => x.reason === 'scheduled' && x.verifyOk === true) ?? false;
  }, 20_000, 'a verified scheduled backup');
  assert.ok(scheduled.verifiedAt);
  assert.ok((await metric(p, 'palisade_backup_last_verification_timestamp_seconds')) > 0);
  assert.equal(await metric(p, 'palisade_backup_last_verification_ok'), 1);

  // Without scheduled backups, so no later verification hides this one; then damage the first backup's event data.
  assert.equal(await p.stop(), 0);
  p = await startPalisade({ dataDir: p.dataDir, env: { PALISADE_BACKUP_INTERVAL: 'off' } });
  const dir = path.join(p.dataDir, 'backups', 'encrypted', firstBackup);
  const victims = (await files(dir)).filter((f) => f.includes(`${path.sep}events${path.sep}`) && f.endsWith('.bin'));
  assert.ok(victims.length > 0, 'the backup holds event data files');
  for (const f of victims) {
    const bytes = await readFile(f);
    // Past the encrypted file header: flip a run of bytes in the middle of the data.
    for (let i = Math.floor(bytes.length / 2); i < Math.min(bytes.length, Math.floor(bytes.length / 2) + 16); i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await writeFile(f, bytes);
  }
  const verify = await p.cli(['backup', 'verify', firstBackup, '--json']);
  assert.equal(verify.code, 1, verify.stderr + verify.stdout);
  const result = JSON.parse(verify.stdout) as { ok: boolean; error?: string; mismatches: unknown[] };
  assert.equal(result.ok, false);
  assert.ok(result.error !== undefined || result.mismatches.length > 0, verify.stdout);
  assert.equal(await metric(p, 'palisade_backup_last_verification_ok'), 0);

  const doctor = await p.cli(['doctor', '--json'], { PALISADE_PORT: String(p.apiPort) });
  assert.equal(doctor.code, 1);
  const check = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string; next?: string }[] }).checks.find((c) => c.name === 'backups');
  assert.equal(check?.status, 'red');
  assert.match(check?.detail ?? '', new RegExp(`VERIFICATION FAILED for ${firstBackup}`));
  assert.match(check?.next ?? '', /PalisadeBackupVerificationFailed/);
  const list = json<{ backups: { id: string; verifyOk: boolean | null }[] }>(await p.cli(['backup', 'list', '--json']));
  assert.equal(list.backups.find((x) => x.id === firstBackup)?.verifyOk, false);

  // A good backup verified afterwards clears it.
  const fresh = json<{ backup: { id: string } }>(await p.cli(['backup', 'create', '--json']));
  assert.equal((await p.cli(['backup', 'verify', fresh.backup.id])).code, 0);
  assert.equal(await metric(p, 'palisade_backup_last_verification_ok'), 1);
  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    const rows = await wh.query<{ target: string; outcome: string }>("SELECT target, outcome FROM audit_log WHERE action = 'backup.verify' ORDER BY seq");
    assert.ok(rows.some((r) => r.target === firstBackup && r.outcome === 'failed'), 'the failed verification is audited');
    assert.ok(rows.some((r) => r.target === fresh.backup.id && r.outcome === 'ok'));
  } finally {
    await wh.close();
  }
  await restart();
});

test('backups past their retention are deleted, files and all', async () => {
  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    // Age the first backup past PALISADE_BACKUP_RETENTION_DAYS: a new registry version, expired yesterday.
    const [row] = await wh.query<Record<string, unknown>>('SELECT * FROM backups FINAL WHERE id = {id:String}', { params: { id: firstBackup } });
    assert.ok(row);
    await wh.insertJson('backups', Buffer.from(JSON.stringify({ ...row, expires_at: '2000-01-01 00:00:00.000', version: Number(row.version) + 1 })));
  } finally {
    await wh.close();
  }
  await restart();
  const dir = path.join(p.dataDir, 'backups', 'encrypted', firstBackup);
  await waitFor(async () => stat(dir).then(() => false, () => true), 5_000, 'the expired backup\'s files removed');
  const list = json<{ backups: { id: string; status: string }[] }>(await p.cli(['backup', 'list', '--json']));
  assert.equal(list.backups.find((x) => x.id === firstBackup)?.status, 'expired');
  const again = await p.cli(['backup', 'verify', firstBackup]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /conflict: backup .* is expired/);
});

test('a migration refuses to run when its backup fails; --plan shows what would run and be backed up', async () => {
  const busy = await p.cli(['migrate']);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /is running .* and owns it/);
  const live = json<{ pending: unknown[] }>(await p.cli(['migrate', '--plan', '--json']));
  assert.deepEqual(live.pending, []);

  assert.equal(await p.stop(), 0);
  let wh = await openDataDir(p.dataDir);
  await wh.command("ALTER TABLE schema_migrations DELETE WHERE name = '0005_governance'", { settings: { mutations_sync: 2 } });
  await wh.close();
  const broken = breakBackupDisk(path.join(p.dataDir, 'backups', 'encrypted'));
  const cli = (args: string[], env: Record<string, string> = broken) => runCli(args, { ...p.env, PALISADE_ADMIN_PORT: String(p.adminPort), ...env });
  const plan = json<{ pending: { name: string }[]; backup: { tables: string[]; nothingToBackUp: boolean } }>(await cli(['migrate', '--plan', '--json']));
  assert.deepEqual(plan.pending.map((m) => m.name), ['0005_governance']);
  assert.deepEqual(plan.backup.tables, ['deletion_receipts', 'support_grants', 'tenant_settings']);

  const refused = await cli(['migrate']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /migration refused: backup bak_\S+ failed .*nothing was changed/);
  const still = json<{ pending: { name: string }[] }>(await cli(['migrate', '--plan', '--json']));
  assert.deepEqual(still.pending.map((m) => m.name), ['0005_governance']);

  unbreak();
  const applied = json<{ applied: { name: string }[]; backupId: string }>(await cli(['migrate', '--json'], {}));
  assert.deepEqual(applied.applied.map((m) => m.name), ['0005_governance']);
  assert.match(applied.backupId, /^bak_/);

  wh = await openDataDir(p.dataDir);
  try {
    const entries = await wh.query<{ outcome: string; details: string }>("SELECT outcome, details FROM audit_log WHERE action = 'migration.apply' ORDER BY seq");
    const last2 = entries.slice(-2).map((e) => ({ outcome: e.outcome, backupId: (JSON.parse(e.details) as { backupId: string | null }).backupId }));
    assert.equal(last2[0]?.outcome, 'refused');
    assert.match(last2[0]?.backupId ?? '', /^bak_/);
    assert.deepEqual(last2[1], { outcome: 'ok', backupId: applied.backupId });
    const registry = await wh.query<{ status: string }>("SELECT status FROM backups FINAL WHERE reason = 'pre-migrate' ORDER BY created_at");
    assert.deepEqual(registry.map((r) => r.status), ['failed', 'ok']);
  } finally {
    await wh.close();
  }
});
