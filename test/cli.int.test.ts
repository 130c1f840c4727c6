/**
 * The README's first five minutes, run as a person would: the server as one
 * child process, each `palisade` command as another, talking over HTTPS. The
 * command is bin/palisade.js itself, through tsx as `npm start` runs it (the
 * other suites run the test run's bundle of it: helpers/palisade.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { basic, removeDir, runCli, SOURCE_BIN, startPalisade, waitFor, type Palisade } from './helpers/palisade.ts';

let p: Palisade;

before(async () => {
  p = await startPalisade({ bin: SOURCE_BIN });
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

test('the README flow: create a tenant, send an event, see it counted, manage keys', async () => {
  const created = json<{ tenant: { id: string; name: string }; keys: { ingest: string; browser: string; query: string } }>(
    await p.cli(['tenant', 'create', 'acme', '--json']),
  );
  assert.equal(created.tenant.name, 'acme');
  assert.match(created.tenant.id, /^ten_[0-9A-Za-z]{12}$/);
  assert.match(created.keys.ingest, /^pal_sk_/);
  assert.match(created.keys.browser, /^pal_pk_/);
  assert.match(created.keys.query, /^pal_sk_/);

  const listed = json<{ tenants: { id: string }[] }>(await p.cli(['tenant', 'list', '--json']));
  assert.deepEqual(listed.tenants.map((t) => t.id), [created.tenant.id]);

  const r = await p.api('POST', '/v1/track', { body: { event: 'Signed Up', userId: 'u1', properties: { plan: 'pro' } }, headers: basic(created.keys.ingest) });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { success: true });
  const acked = Date.now();

  const st = await waitFor(async () => {
    const s = json<{ events: number; lastEventAt: string | null; bytesOnDisk: number }>(await p.cli(['tenant', 'stats', created.tenant.id, '--json']));
    return s.events === 1 && s;
  }, 5_000, 'the event in tenant stats');
  assert.ok(Date.now() - acked < 5_000);
  assert.ok(st.bytesOnDisk > 0);
  assert.ok(st.lastEventAt);

  const key = json<{ key: { id: string; scope: string; tenantId: string }; token: string }>(
    await p.cli(['key', 'create', '--tenant', created.tenant.id, '--scope', 'ingest', '--json']),
  );
  assert.equal(key.key.scope, 'ingest');
  assert.equal(key.key.tenantId, created.tenant.id);
  const keys = json<{ keys: { id: string; revokedAt: string | null }[] }>(await p.cli(['key', 'list', '--tenant', created.tenant.id, '--json']));
  assert.equal(keys.keys.length, 4);
  assert.ok(!JSON.stringify(keys).includes('pal_sk_'), 'listing never shows secrets');

  const revoked = json<{ key: { id: string; revokedAt: string | null } }>(await p.cli(['key', 'revoke', key.key.id, '--json']));
  assert.equal(revoked.key.id, key.key.id);
  assert.ok(revoked.key.revokedAt);
  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'x', userId: 'u' }, headers: basic(key.token) })).status, 401);

  const updated = json<{ tenant: { allowedOrigins: string[] } }>(
    await p.cli(['tenant', 'update', created.tenant.id, '--allowed-origin', 'https://example.com', '--json']),
  );
  assert.deepEqual(updated.tenant.allowedOrigins, ['https://example.com']);

  const human = await p.cli(['tenant', 'stats', created.tenant.id]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /events: 1/);
});

test('the CLI fails clearly: bad admin token, bad settings, unknown tenant, server down', async () => {
  const bad = await p.cli(['tenant', 'list'], { PALISADE_ADMIN_TOKEN: 'pal_admin_wrong' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unauthorized/);

  const badEnv = await p.cli(['tenant', 'list'], { PALISADE_ADMIN_PORT: 'eighty' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /PALISADE_ADMIN_PORT/);

  const missing = await p.cli(['tenant', 'stats', 'ten_doesnotexist']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not_found/);

  const down = await runCli(['tenant', 'list'], { ...p.env, PALISADE_ADMIN_PORT: '1' }, SOURCE_BIN);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the Palisade admin API/);
});
