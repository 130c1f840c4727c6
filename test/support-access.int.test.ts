/**
 * Operators read a tenant's data only while that tenant's grant is live:
 * granted with the tenant's query key (at most 21 days), revocable at any
 * time, expiring on its own; every operator query, allowed or refused, is in
 * the tenant's own trail.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { basic, createTenant, removeDir, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let a: CreatedTenant;
let b: CreatedTenant;

interface Grant {
  id: string;
  tenantId: string;
  live: boolean;
  expiresAt: string;
  revokedAt: string | null;
}
interface Entry {
  tenantId: string;
  action: string;
  actor: string;
  outcome: string;
  target: string;
  details: Record<string, unknown>;
}

before(async () => {
  p = await startPalisade({ env: { PALISADE_BACKUP_INTERVAL: 'off' } });
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const batch = { batch: ['u1', 'u2', 'u3'].map((u) => ({ type: 'track', event: 'Opened', userId: u })) };
  assert.equal((await p.api('POST', '/v1/batch', { body: batch, headers: basic(a.keys.ingest) })).status, 200);
  await waitFor(async () => (await stats(p, a.tenant.id)).events === 3, 5_000, 'events stored');
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const grant = (token: string, body: unknown) => p.api<{ grant: Grant }>('POST', '/v1/support-grants', { body, headers: bearer(token) });
const operatorQuery = (tenantId: string) => p.admin<{ result: unknown; grant: { id: string } }>('POST', `/admin/tenants/${tenantId}/query`, { kind: 'events', limit: 10 });

test('no grant, no data: the operator gets 403 and the attempt is in the tenant\'s trail', async () => {
  const r = await operatorQuery(a.tenant.id);
  assert.equal(r.status, 403);
  assert.match(r.text, /no live support grant/);
  const exp = await p.cli(['tenant', 'export', a.tenant.id]);
  assert.equal(exp.code, 1);
  assert.match(exp.stderr, /forbidden/);
});

test('a live grant lets operators query that tenant only; revoking it ends access at once', async () => {
  const g = await grant(a.keys.query, { duration: '1h', reason: 'ticket 4711' });
  assert.equal(g.status, 201, g.text);
  assert.equal(g.body.grant.live, true);
  assert.equal(g.body.grant.tenantId, a.tenant.id);

  const ok = await operatorQuery(a.tenant.id);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.grant.id, g.body.grant.id);
  assert.ok(JSON.stringify(ok.body.result).includes('u1'));
  assert.equal((await operatorQuery(b.tenant.id)).status, 403, "A's grant opens nothing of B's");

  const cli = await p.cli(['support', 'query', '--tenant', a.tenant.id, '--query', '{"kind":"events","limit":2}', '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const exported = await p.cli(['tenant', 'export', a.tenant.id]);
  assert.equal(exported.code, 0, exported.stderr);
  const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { record: string; events?: number });
  assert.equal(lines[0]?.record, 'tenant');
  assert.equal(lines.filter((l) => l.record === 'event').length, 3);
  assert.deepEqual(lines[lines.length - 1], { record: 'end', events: 3, deadLetters: 0, complete: true });

  // Another tenant neither sees nor revokes it.
  const theirs = await p.api<{ grants: Grant[] }>('GET', '/v1/support-grants', { headers: bearer(b.keys.query) });
  assert.deepEqual(theirs.body.grants, []);
  assert.equal((await p.api('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(b.keys.query) })).status, 404);
  assert.equal((await operatorQuery(a.tenant.id)).status, 200);

  const revoked = await p.api<{ grant: Grant }>('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(a.keys.query) });
  assert.equal(revoked.status, 200);
  assert.ok(revoked.body.grant.revokedAt);
  assert.equal((await operatorQuery(a.tenant.id)).status, 403);
  const listed = await p.admin<{ grants: Grant[] }>('GET', `/admin/tenants/${a.tenant.id}/support-grants`);
  assert.deepEqual(listed.body.grants.map((x) => [x.id, x.live]), [[g.body.grant.id, false]]);
});

test('a grant expires on its own, lasts at most 21 days, and only a query key grants', async () => {
  const short = await grant(a.keys.query, { duration: '2s' });
  assert.equal(short.status, 201);
  assert.equal((await operatorQuery(a.tenant.id)).status, 200);
  await waitFor(async () => (await operatorQuery(a.tenant.id)).status === 403, 6_000, 'the grant to expire');

  assert.equal((await grant(a.keys.query, { duration: '22d' })).status, 400);
  assert.equal((await grant(a.keys.query, { duration: '21d' })).status, 201);
  assert.equal((await grant(a.keys.query, { duration: 'forever' })).status, 400);
  assert.equal((await grant(a.keys.query, { duration: '1h', tenantId: b.tenant.id })).status, 400);
  assert.equal((await grant(a.keys.ingest, { duration: '1h' })).status, 403);
  assert.equal((await grant('pal_sk_nonsense', { duration: '1h' })).status, 401);
});

test("every operator query, allowed or refused, is in the tenant's own trail", async () => {
  const r = await p.api<{ entries: Entry[] }>('GET', '/v1/audit?limit=1000', { headers: bearer(a.keys.query) });
  assert.equal(r.status, 200);
  const e = r.body.entries;
  const support = e.filter((x) => x.action === 'support.query');
  assert.ok(support.filter((x) => x.outcome === 'ok').length >= 4);
  assert.ok(support.filter((x) => x.outcome === 'denied').length >= 3);
  assert.ok(support.every((x) => /^admin:adm_/.test(x.actor)));
  const okEntry = support.find((x) => x.outcome === 'ok' && x.details.rows === 3);
  assert.ok(okEntry, 'rows returned are recorded');
  assert.match(String(okEntry.details.grantId), /^grt_/);
  assert.ok(e.some((x) => x.action === 'tenant.export' && x.outcome === 'denied'));
  assert.ok(e.some((x) => x.action === 'tenant.export' && x.outcome === 'ok'));
  assert.equal(e.filter((x) => x.action === 'support_grant.create').length, 3);
  assert.equal(e.filter((x) => x.action === 'support_grant.revoke').length, 1);
  assert.ok(e.every((x) => x.tenantId === a.tenant.id));

  const theirs = await p.api<{ entries: Entry[] }>('GET', '/v1/audit?limit=1000', { headers: bearer(b.keys.query) });
  assert.ok(theirs.body.entries.some((x) => x.action === 'support.query' && x.outcome === 'denied'), "the refused query on B is in B's trail");
});
