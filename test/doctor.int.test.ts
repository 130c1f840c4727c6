/**
 * `palisade doctor` as on-call runs it: a child process against a running
 * server, green and exit 0; then the server stopped, and doctor exits 1
 * naming the checks that went red and the runbook to open.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { removeDir, startPalisade, type Palisade } from './helpers/palisade.ts';

interface Report {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'red'; detail: string; next?: string }[];
}

let p: Palisade;
let stopped = false;

before(async () => {
  p = await startPalisade();
});

after(async () => {
  if (!stopped) await p.kill();
  await removeDir(p.dataDir);
});

// The helper's env has PALISADE_PORT=0 (ephemeral); doctor needs the real API port.
const doctor = () => p.cli(['doctor', '--json'], { PALISADE_PORT: String(p.apiPort) });

test('doctor is green against a healthy server, and names every check', async () => {
  const r = await doctor();
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.ok, true);
  const by = new Map(report.checks.map((c) => [c.name, c]));
  for (const name of ['service up (admin)', 'service up (api)', 'TLS certificate', 'clickhouse', 'migrations', 'spool', 'flusher', 'dead letters (24 h)', 'auth failures (1 h)', 'backups', 'disk', 'alert conditions']) {
    assert.ok(by.has(name), `check ${name} is reported: ${r.stdout}`);
  }
  for (const c of report.checks) assert.notEqual(c.status, 'red', `${c.name}: ${c.detail}`);
  assert.match(by.get('clickhouse')?.detail ?? '', /embedded, version \d+\./);
  // The self-signed certificate is valid for a year.
  assert.match(by.get('TLS certificate')?.detail ?? '', /\(3\d\d\.\d days\)/);
  assert.equal(by.get('migrations')?.detail, 'none pending');

  // The human form: one line per check and a verdict.
  const human = await p.cli(['doctor'], { PALISADE_PORT: String(p.apiPort) });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /\[ ok \] service up \(admin\)/);
  assert.match(human.stdout, /doctor: nothing red/);
});

test('the admin doctor endpoint needs the admin token', async () => {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const res = await request(`https://localhost:${p.adminPort}/admin/doctor`, { dispatcher });
  await res.body.text();
  await dispatcher.close();
  assert.equal(res.statusCode, 401);
});

test('with the server stopped, doctor exits 1 and names "service up"', async () => {
  await p.stop();
  stopped = true;
  const r = await doctor();
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.ok, false);
  const red = report.checks.filter((c) => c.status === 'red').map((c) => c.name);
  assert.ok(red.includes('service up (admin)'), red.join(', '));
  assert.ok(red.includes('service up (api)'), red.join(', '));
  for (const c of report.checks.filter((x) => x.status === 'red')) assert.match(c.next ?? '', /ops\/runbooks\/\w+\.md/);
});
