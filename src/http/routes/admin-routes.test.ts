/**
 * Every route of the admin listener, in-process (`app.request()` on a node
 * built from real parts): a happy, an error and a security case each. The
 * admin-token refusals every route shares are in ../route-auth.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Hono } from 'hono';
import { basic, bearer, inProcessNode, type InProcessNode, type TenantWithKeys } from '../../../test/helpers/in-process.ts';
import { createLogger } from '../../log/index.ts';
import { notFound, onError } from '../errors.ts';
import type { Env } from '../types.ts';
import { tenantSettingsRoutes } from './tenant-settings.ts';

type ErrorBody = { error: { code: string; message: string } };
const code = (r: { body: unknown }) => (r.body as ErrorBody).error?.code;
const MISSING_TENANT = 'ten_000000000000';

const node = inProcessNode();
let n: InProcessNode;
let t: TenantWithKeys;

/** Admin trail entries of a tenant with this action. */
async function trail(tenantId: string, action: string): Promise<{ action: string; outcome: string; actor: string }[]> {
  await n.flushAudit();
  const r = await n.adminCall<{ entries: { action: string; outcome: string; actor: string }[] }>('GET', `/admin/tenants/${tenantId}/audit?limit=5000`);
  return r.body.entries.filter((e) => e.action === action);
}

before(async () => {
  n = await node.open();
  t = await n.createTenant('admin routes', ['https://admin-routes.example']);
});

describe('GET /healthz, GET /metrics, GET /admin/doctor', () => {
  test('happy: health and metrics without the token, doctor with it', async () => {
    const h = await n.adminCall<{ status: string }>('GET', '/healthz', undefined, {});
    assert.deepEqual([h.status, h.body.status], [200, 'ok']);
    const m = await n.adminCall('GET', '/metrics', undefined, {});
    assert.equal(m.status, 200);
    assert.match(m.text, /palisade_http_requests_total/);
    assert.equal((await n.adminCall('GET', '/admin/doctor')).status, 200);
  });
  test('error: a wrong admin token is 401 on doctor', async () => {
    const r = await n.adminCall('GET', '/admin/doctor', undefined, bearer('not-the-token'));
    assert.deepEqual([r.status, code(r)], [401, 'unauthorized']);
  });
  test('security: metrics are never cached and carry no tenant ids', async () => {
    const m = await n.adminCall('GET', '/metrics', undefined, {});
    assert.equal(m.headers.get('cache-control'), 'no-store');
    assert.ok(!m.text.includes(t.tenant.id));
  });
});

describe('tenants: POST/GET /admin/tenants, GET/PATCH /admin/tenants/:id, GET .../stats', () => {
  test('happy: create (with a key of each scope), list, read, rename, stats', async () => {
    const c = await n.createTenant('created here', ['https://created.example']);
    assert.match(c.keys.ingest, /^pal_sk_/);
    assert.match(c.keys.browser, /^pal_pk_/);
    assert.match(c.keys.query, /^pal_sk_/);
    const list = await n.adminCall<{ tenants: { id: string }[] }>('GET', '/admin/tenants');
    assert.ok(list.body.tenants.some((x) => x.id === c.tenant.id));
    const one = await n.adminCall<{ tenant: { name: string } }>('GET', `/admin/tenants/${c.tenant.id}`);
    assert.equal(one.body.tenant.name, 'created here');
    const p = await n.adminCall<{ tenant: { name: string; allowedOrigins: string[] } }>('PATCH', `/admin/tenants/${c.tenant.id}`, { name: 'renamed', addAllowedOrigins: ['https://more.example'] });
    assert.deepEqual([p.status, p.body.tenant.name, p.body.tenant.allowedOrigins.sort()], [200, 'renamed', ['https://created.example', 'https://more.example']]);
    const s = await n.adminCall<{ events: number }>('GET', `/admin/tenants/${c.tenant.id}/stats`);
    assert.deepEqual([s.status, s.body.events], [200, 0]);
    // The new origin is live at once for CORS.
    assert.ok(n.keys.isKnownOrigin('https://more.example'));
  });
  test('a tenant named with half an emoji (a lone surrogate) is created and renamed with U+FFFD in its place, not a 500', async () => {
    const r = await n.adminCall<{ tenant: { id: string } }>('POST', '/admin/tenants', { name: 'shop \ud83d' });
    assert.equal(r.status, 201, r.text);
    const renamed = await n.adminCall('PATCH', `/admin/tenants/${r.body.tenant.id}`, { name: '\ude00 shop' });
    assert.equal(renamed.status, 200, renamed.text);
    const got = await n.adminCall<{ tenant: { name: string } }>('GET', `/admin/tenants/${r.body.tenant.id}`);
    assert.equal(got.body.tenant.name, '\ufffd shop');
  });
  test('error: a bad body, a malformed id and an unknown tenant', async () => {
    const bad = await n.adminCall('POST', '/admin/tenants', { name: '' });
    assert.deepEqual([bad.status, code(bad)], [400, 'invalid_body']);
    const extra = await n.adminCall('PATCH', `/admin/tenants/${t.tenant.id}`, { name: 'x', owner: 'y' });
    assert.deepEqual([extra.status, code(extra)], [400, 'invalid_body']);
    assert.equal((await n.adminCall('GET', '/admin/tenants/not-a-tenant')).status, 404);
    assert.equal((await n.adminCall('GET', `/admin/tenants/${MISSING_TENANT}`)).status, 404);
    assert.equal((await n.adminCall('GET', `/admin/tenants/${MISSING_TENANT}/stats`)).status, 404);
  });
  test('security: origins are exact (no path, no other scheme), and creation is audited', async () => {
    // (`https://*.example.com` is accepted as a literal origin today; it is compared exactly, so it matches nothing.)
    for (const origin of ['https://a.example/path', 'javascript:alert(1)', 'https://a.example/']) {
      const r = await n.adminCall('POST', '/admin/tenants', { name: 'w', allowedOrigins: [origin] });
      assert.deepEqual([r.status, code(r)], [400, 'invalid_body'], origin);
    }
    const created = await trail(t.tenant.id, 'tenant.create');
    assert.equal(created.length, 1);
    assert.match(created[0]?.actor ?? '', /^admin:adm_/);
  });
});

describe('keys: GET/POST /admin/tenants/:id/keys, DELETE /admin/keys/:keyId', () => {
  test('happy: create a key, list it, revoke it', async () => {
    const c = await n.adminCall<{ key: { id: string; scope: string }; token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'query' });
    assert.equal(c.status, 201);
    const list = await n.adminCall<{ keys: { id: string; revoked: boolean }[] }>('GET', `/admin/tenants/${t.tenant.id}/keys`);
    assert.ok(list.body.keys.some((k) => k.id === c.body.key.id));
    const del = await n.adminCall<{ key: { id: string; revoked: boolean } }>('DELETE', `/admin/keys/${c.body.key.id}`);
    assert.equal(del.status, 200);
  });
  test('error: an unknown scope, a malformed key id', async () => {
    const r = await n.adminCall('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'admin' });
    assert.deepEqual([r.status, code(r)], [400, 'invalid_body']);
    assert.equal((await n.adminCall('DELETE', '/admin/keys/short')).status, 404);
  });
  test('security: a listed key shows no secret; a revoked key is refused on the API at once', async () => {
    const c = await n.adminCall<{ key: { id: string }; token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
    const list = await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/keys`);
    assert.ok(!list.text.includes(c.body.token.slice(-20)));
    assert.ok(!/argon2/.test(list.text));
    await n.adminCall('DELETE', `/admin/keys/${c.body.key.id}`);
    const r = await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'u' }, headers: basic(c.body.token) });
    assert.deepEqual([r.status, code(r)], [401, 'revoked_credential']);
  });
});

describe('edge settings: GET/PATCH /admin/tenants/:id/settings', () => {
  test('happy: defaults, then a change that names what changed', async () => {
    const g = await n.adminCall<{ settings: { ipPolicy: string } }>('GET', `/admin/tenants/${t.tenant.id}/settings`);
    assert.deepEqual([g.status, g.body.settings.ipPolicy], [200, 'truncate']);
    const p = await n.adminCall<{ changed: string[]; settings: { ipPolicy: string } }>('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { ipPolicy: 'drop' });
    assert.deepEqual([p.status, p.body.changed, p.body.settings.ipPolicy], [200, ['ipPolicy'], 'drop']);
    assert.equal(n.keys.tenant(t.tenant.id)?.settings?.ipPolicy, 'drop');
  });
  test('error: an unknown field, a bad value, a cap above the node ceiling', async () => {
    assert.equal(code(await n.adminCall('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { colour: 'red' })), 'invalid_body');
    assert.equal(code(await n.adminCall('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { ipPolicy: 'everything' })), 'invalid_body');
    const cap = await n.adminCall('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { query: { maxConcurrent: 1_000_000 } });
    assert.equal(cap.status, 400, cap.text);
    assert.equal((await n.adminCall('GET', `/admin/tenants/${MISSING_TENANT}/settings`)).status, 404);
  });
  test('security: the group declares the admin token itself, so it is protected even mounted on its own', async () => {
    const alone = new Hono<Env>();
    alone.onError(onError(createLogger('silent')));
    alone.notFound(notFound);
    alone.use('*', async (c, next) => {
      c.set('requestId', 'r');
      c.set('clientIp', '');
      await next();
    });
    const settings = { store: { get: async () => ({}) }, control: { getTenant: async () => ({}) } } as unknown as Parameters<typeof tenantSettingsRoutes>[0];
    alone.route('/', tenantSettingsRoutes(settings, { adminToken: n.adminToken }));
    const r = await alone.request(`/admin/tenants/${t.tenant.id}/settings`);
    assert.equal(r.status, 401);
    const ok = await alone.request(`/admin/tenants/${t.tenant.id}/settings`, { headers: bearer(n.adminToken) });
    assert.equal(ok.status, 200);
  });
});

describe('audit: POST /admin/audit/verify, GET /admin/tenants/:id/audit', () => {
  test('happy: the chain verifies; a tenant trail as a page and as JSON lines', async () => {
    const v = await n.adminCall<{ ok: boolean; entries: number }>('POST', '/admin/audit/verify');
    assert.equal(v.status, 200);
    assert.equal(v.body.ok, true);
    const page = await n.adminCall<{ entries: { tenantId: string }[] }>('GET', `/admin/tenants/${t.tenant.id}/audit`);
    assert.ok(page.body.entries.length > 0);
    const lines = await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/audit?format=jsonl`);
    assert.match(lines.headers.get('content-type') ?? '', /ndjson/);
    assert.ok(lines.text.trim().split('\n').every((l) => (JSON.parse(l) as { tenantId: string }).tenantId === t.tenant.id));
  });
  test('error: a bad since, a bad limit, a malformed tenant id', async () => {
    assert.equal(code(await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/audit?since=whenever`)), 'bad_request');
    assert.equal(code(await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/audit?limit=0`)), 'bad_request');
    assert.equal((await n.adminCall('GET', '/admin/tenants/ten_x/audit')).status, 404);
  });
  test('security: reading a trail is itself audited, and shows only that tenant', async () => {
    await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/audit`);
    const reads = await trail(t.tenant.id, 'audit.read');
    assert.ok(reads.length >= 1);
    const page = await n.adminCall<{ entries: { tenantId: string }[] }>('GET', `/admin/tenants/${t.tenant.id}/audit?limit=5000`);
    assert.ok(page.body.entries.every((e) => e.tenantId === t.tenant.id));
  });
});

describe('backups: GET/POST /admin/backups, GET /admin/backups/:id, POST .../verify, POST .../restore', () => {
  let backupId = '';
  test('happy: a tenant backup is made, listed, read, verified and restored', async () => {
    const c = await n.adminCall<{ backup: { id: string; status: string } }>('POST', '/admin/backups', { tenant: t.tenant.id });
    assert.equal(c.status, 201, c.text);
    backupId = c.body.backup.id;
    const list = await n.adminCall<{ backups: { id: string }[] }>('GET', `/admin/backups?tenant=${t.tenant.id}`);
    assert.ok(list.body.backups.some((b) => b.id === backupId));
    const one = await n.adminCall<{ backup: { id: string } }>('GET', `/admin/backups/${backupId}`);
    assert.equal(one.body.backup.id, backupId);
    const v = await n.adminCall<{ ok: boolean }>('POST', `/admin/backups/${backupId}/verify`);
    assert.deepEqual([v.status, v.body.ok], [200, true]);
    const r = await n.adminCall('POST', `/admin/backups/${backupId}/restore`, { tenant: t.tenant.id });
    assert.equal(r.status, 200, r.text);
  });
  test('error: an unknown backup, a malformed tenant, an unknown tenant', async () => {
    assert.equal((await n.adminCall('GET', '/admin/backups/bak_doesnotexist')).status, 404);
    assert.equal((await n.adminCall('POST', '/admin/backups/bak_doesnotexist/verify')).status, 404);
    assert.equal(code(await n.adminCall('POST', '/admin/backups', { tenant: 'everyone' })), 'invalid_body');
    assert.equal((await n.adminCall('POST', '/admin/backups', { tenant: MISSING_TENANT })).status, 404);
    assert.equal((await n.adminCall('GET', '/admin/backups?tenant=nope')).status, 404);
  });
  test('security: making and restoring a backup are in the trail', async () => {
    assert.ok(backupId, 'the happy case made a backup');
    assert.ok((await trail(t.tenant.id, 'backup.create')).length >= 1);
    assert.ok((await trail(t.tenant.id, 'backup.restore')).length >= 1);
  });
});

describe('GET /admin/migrations', () => {
  test('happy: every migration applied, none pending', async () => {
    const r = await n.adminCall<{ applied: unknown[]; pending: unknown[] }>('GET', '/admin/migrations');
    assert.equal(r.status, 200);
    assert.ok(r.body.applied.length > 0);
    assert.deepEqual(r.body.pending, []);
  });
  test('error: a write method is not a route', async () => {
    assert.equal((await n.adminCall('POST', '/admin/migrations', {})).status, 404);
  });
  test('security: the plan names tables, never SQL with data', async () => {
    const r = await n.adminCall('GET', '/admin/migrations');
    assert.ok(!r.text.includes(t.tenant.id));
  });
});

describe('retention: GET/PUT /admin/tenants/:id/retention', () => {
  test('happy: 0 (forever) by default, then 400 days', async () => {
    const g = await n.adminCall<{ retentionDays: number }>('GET', `/admin/tenants/${t.tenant.id}/retention`);
    assert.deepEqual([g.status, g.body.retentionDays], [200, 0]);
    const p = await n.adminCall<{ previousDays: number; retentionDays: number }>('PUT', `/admin/tenants/${t.tenant.id}/retention`, { retentionDays: 400 });
    assert.deepEqual([p.status, p.body.previousDays, p.body.retentionDays], [200, 0, 400]);
  });
  test('error: a negative or fractional number of days', async () => {
    assert.equal(code(await n.adminCall('PUT', `/admin/tenants/${t.tenant.id}/retention`, { retentionDays: -1 })), 'invalid_body');
    assert.equal(code(await n.adminCall('PUT', `/admin/tenants/${t.tenant.id}/retention`, { retentionDays: 1.5 })), 'invalid_body');
    assert.equal((await n.adminCall('GET', `/admin/tenants/${MISSING_TENANT}/retention`)).status, 404);
  });
  test('security: a retention change is audited', async () => {
    assert.ok((await trail(t.tenant.id, 'retention.update')).length >= 1);
  });
});

describe('deletion: DELETE /admin/tenants/:id/users/:userId, DELETE /admin/tenants/:id', () => {
  test("happy: a user's events go, the tenant's others stay; then the whole tenant goes", async () => {
    const d = await n.createTenant('to delete');
    for (const [id, user] of [['del-1', 'gone'], ['del-2', 'stays']] as const) {
      const r = await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: user, messageId: id }, headers: basic(d.keys.ingest) });
      assert.equal(r.status, 200);
    }
    const u = await n.adminCall<{ receipt: { eventsDeleted: number } }>('DELETE', `/admin/tenants/${d.tenant.id}/users/gone`);
    assert.deepEqual([u.status, u.body.receipt.eventsDeleted], [200, 1]);
    const left = await n.warehouse.query<{ message_id: string }>('SELECT message_id FROM events FINAL WHERE tenant_id = {t:String}', { params: { t: d.tenant.id } });
    assert.deepEqual(left.map((x) => x.message_id), ['del-2']);
    const all = await n.adminCall<{ receipt: { keysRevoked: number } }>('DELETE', `/admin/tenants/${d.tenant.id}`);
    assert.deepEqual([all.status, all.body.receipt.keysRevoked], [200, 3]);
    // Its keys are refused at once.
    const r = await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'u' }, headers: basic(d.keys.ingest) });
    assert.equal(r.status, 401);
  });
  test('error: an unknown tenant, a malformed tenant id', async () => {
    assert.equal((await n.adminCall('DELETE', `/admin/tenants/${MISSING_TENANT}/users/u`)).status, 404);
    assert.equal((await n.adminCall('DELETE', '/admin/tenants/everyone')).status, 404);
  });
  test('error: a named anonymous id with a lone surrogate is 400 invalid_body, not a 500 from the receipt insert (found by the generated HTTP surface)', async () => {
    const d = await n.createTenant('deletion lone surrogate');
    await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'u', messageId: 'ls-1' }, headers: basic(d.keys.ingest) });
    for (const route of [`/admin/tenants/${d.tenant.id}/users/u`, `/admin/tenants/${d.tenant.id}/users/u/deletion-plan`]) {
      const r = await n.adminCall(route.endsWith('plan') ? 'POST' : 'DELETE', route, { anonymousIds: ['ok', '\ud800'] });
      assert.deepEqual([r.status, code(r)], [400, 'invalid_body'], route);
    }
  });
  test("security: a user deletion never touches another tenant's user of the same id", async () => {
    const x = await n.createTenant('deletion x');
    const y = await n.createTenant('deletion y');
    for (const [who, id] of [[x, 'dx-1'], [y, 'dy-1']] as const) {
      await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'same', messageId: id }, headers: basic(who.keys.ingest) });
    }
    await n.adminCall('DELETE', `/admin/tenants/${x.tenant.id}/users/same`);
    await n.flush();
    const rows = await n.warehouse.query<{ message_id: string }>("SELECT message_id FROM events FINAL WHERE message_id IN ('dx-1', 'dy-1')");
    assert.deepEqual(rows.map((r) => r.message_id), ['dy-1']);
  });
});

describe('deletion plan: POST /admin/tenants/:id/users/:userId/deletion-plan', () => {
  let d: TenantWithKeys;
  const origin = 'https://plan.example';
  before(async () => {
    d = await n.createTenant('deletion plan', [origin]);
    // Alice's own event; then, with the browser key, the alias attack: links to Bob and to Carol's device.
    await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'alice', messageId: 'p-1' }, headers: basic(d.keys.ingest) });
    await n.call('POST', '/v1/track', { body: { type: 'track', event: 'e', userId: 'bob', messageId: 'p-2' }, headers: basic(d.keys.ingest) });
    const attack = { writeKey: d.keys.browser, batch: [{ type: 'alias', userId: 'alice', previousId: 'bob' }, { type: 'track', event: 'x', userId: 'alice', anonymousId: 'anon-carol' }] };
    assert.equal((await n.call('POST', '/v1/batch', { body: attack, headers: { origin } })).status, 200);
    await n.flush();
  });
  test('happy: counts per id, every id followed and every claim not followed; nothing is deleted', async () => {
    const r = await n.adminCall<{ plan: { events: number; followed: { id: string }[]; notFollowed: { id: string; keyId: string }[]; perId: { id: string; events: number }[] } }>(
      'POST',
      `/admin/tenants/${d.tenant.id}/users/alice/deletion-plan`,
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.plan.events, 3);
    assert.deepEqual(r.body.plan.followed.map((l) => l.id), ['alice']);
    assert.deepEqual(r.body.plan.notFollowed.map((l) => l.id).sort(), ['anon-carol', 'bob']);
    assert.ok(r.body.plan.notFollowed.every((l) => l.keyId === d.keys.browser.slice(7)), 'each claim names the browser key that made it');
    assert.deepEqual(r.body.plan.perId, [{ id: 'alice', kind: 'userId', events: 3 }]);
    const left = await n.warehouse.query<{ n: number }>('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { params: { t: d.tenant.id } });
    assert.equal(Number(left[0]?.n), 4, 'a plan deletes nothing');
  });
  test('error: an unknown tenant is 404; a body naming too many or empty ids is 400', async () => {
    assert.equal((await n.adminCall('POST', `/admin/tenants/${MISSING_TENANT}/users/alice/deletion-plan`)).status, 404);
    const bad = await n.adminCall('POST', `/admin/tenants/${d.tenant.id}/users/alice/deletion-plan`, { anonymousIds: [''] });
    assert.deepEqual([bad.status, code(bad)], [400, 'invalid_body']);
    const unknown = await n.adminCall('POST', `/admin/tenants/${d.tenant.id}/users/alice/deletion-plan`, { tenant_id: 'x' });
    assert.deepEqual([unknown.status, code(unknown)], [400, 'invalid_body']);
  });
  test('security: a plan is audited with a hash of the user id, never the id', async () => {
    const entries = await trail(d.tenant.id, 'user.delete.plan');
    assert.ok(entries.length >= 1);
    assert.ok(!JSON.stringify(entries).includes('"alice"'));
  });
});

describe("support access: GET /admin/tenants/:id/support-grants, POST .../query, GET .../export", () => {
  test('security: without a live grant from the tenant, no query and no export (403, audited)', async () => {
    const q = await n.adminCall('POST', `/admin/tenants/${t.tenant.id}/query`, { kind: 'schema' });
    assert.deepEqual([q.status, code(q)], [403, 'forbidden']);
    const e = await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/export`);
    assert.deepEqual([e.status, code(e)], [403, 'forbidden']);
    const denied = await trail(t.tenant.id, 'support.query');
    assert.ok(denied.some((x) => x.outcome === 'denied'));
  });
  test('happy: with a grant, the operator lists it, queries and exports that tenant', async () => {
    const g = await n.call<{ grant: { id: string } }>('POST', '/v1/support-grants', { body: { duration: '1h' }, headers: bearer(t.keys.query) });
    const list = await n.adminCall<{ grants: { id: string }[] }>('GET', `/admin/tenants/${t.tenant.id}/support-grants`);
    assert.ok(list.body.grants.some((x) => x.id === g.body.grant.id));
    const q = await n.adminCall<{ grant: { id: string }; result: { kind: string } }>('POST', `/admin/tenants/${t.tenant.id}/query`, { kind: 'schema' });
    assert.deepEqual([q.status, q.body.grant.id, q.body.result.kind], [200, g.body.grant.id, 'schema']);
    const e = await n.adminCall('GET', `/admin/tenants/${t.tenant.id}/export`);
    assert.equal(e.status, 200);
    assert.match(e.text.split('\n')[0] ?? '', /"record":"tenant"/);
    await n.call('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(t.keys.query) });
  });
  test('error: an invalid support query is a 400 and is audited as failed', async () => {
    const g = await n.call<{ grant: { id: string } }>('POST', '/v1/support-grants', { body: { duration: '1h' }, headers: bearer(t.keys.query) });
    const q = await n.adminCall('POST', `/admin/tenants/${t.tenant.id}/query`, { kind: 'nonsense' });
    assert.deepEqual([q.status, code(q)], [400, 'invalid_query']);
    assert.ok((await trail(t.tenant.id, 'support.query')).some((x) => x.outcome === 'failed'));
    assert.equal((await n.adminCall('GET', '/admin/tenants/nobody/support-grants')).status, 404);
    await n.call('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(t.keys.query) });
  });
});
