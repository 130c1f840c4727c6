/**
 * The shared auth suite (Unkey's `runCommonRouteTests`): every route of both
 * listeners, listed from the apps themselves (`app.routes`), is refused with
 * no credential, with a key of the wrong scope (or a tenant key on the admin
 * listener), with a revoked key, and with another tenant's key it answers
 * nothing of the first tenant. A route added without a line in ACCESS below
 * fails the first test, so a new route cannot be forgotten.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Hono } from 'hono';
import { bearer, inProcessNode, type InProcessNode, type TenantWithKeys } from '../../test/helpers/in-process.ts';
import type { Env } from './types.ts';

type Access =
  /** Open to anyone (health, static assets, the SDK). */
  | 'public'
  /** A CORS preflight: no credential by design, answered for allowed origins only. */
  | 'preflight'
  /** The API's 405 for any other method under /v1. */
  | 'fallback'
  | 'ingest-key'
  | 'query-key'
  | 'admin-token';

const ACCESS: Record<string, Access> = {
  'api GET /healthz': 'public',
  'api GET /readyz': 'public',
  'api GET /openapi.json': 'public',
  'api OPTIONS /v1/query': 'preflight',
  'api OPTIONS /v1/query/schema': 'preflight',
  'api POST /v1/query': 'query-key',
  'api GET /v1/query/schema': 'query-key',
  'api GET /dashboard': 'public',
  'api GET /dashboard/': 'public',
  'api GET /dashboard/app.js': 'public',
  'api GET /dashboard/app.css': 'public',
  'api GET /dashboard/vendor/uplot.js': 'public',
  'api GET /dashboard/vendor/uplot.css': 'public',
  'api GET /sdk/:file{palisade\\.m?js}': 'public',
  'api GET /sdk/:file{palisade\\.m?js\\.sri}': 'public',
  'api GET /v1/audit': 'query-key',
  'api GET /v1/support-grants': 'query-key',
  'api POST /v1/support-grants': 'query-key',
  'api DELETE /v1/support-grants/:id': 'query-key',
  'api GET /v1/export': 'query-key',
  'api OPTIONS /v1/:path': 'preflight',
  'api POST /v1/:path': 'ingest-key',
  'api ALL /v1/*': 'fallback',
  'admin GET /healthz': 'public',
  'admin GET /metrics': 'public',
  'admin GET /openapi.json': 'public',
  'admin GET /admin/doctor': 'admin-token',
  'admin POST /admin/tenants': 'admin-token',
  'admin GET /admin/tenants': 'admin-token',
  'admin GET /admin/tenants/:id': 'admin-token',
  'admin PATCH /admin/tenants/:id': 'admin-token',
  'admin GET /admin/tenants/:id/stats': 'admin-token',
  'admin GET /admin/tenants/:id/keys': 'admin-token',
  'admin POST /admin/tenants/:id/keys': 'admin-token',
  'admin DELETE /admin/keys/:keyId': 'admin-token',
  'admin GET /admin/tenants/:id/settings': 'admin-token',
  'admin PATCH /admin/tenants/:id/settings': 'admin-token',
  'admin POST /admin/audit/verify': 'admin-token',
  'admin GET /admin/tenants/:id/audit': 'admin-token',
  'admin GET /admin/backups': 'admin-token',
  'admin POST /admin/backups': 'admin-token',
  'admin GET /admin/backups/:id': 'admin-token',
  'admin POST /admin/backups/:id/verify': 'admin-token',
  'admin POST /admin/backups/:id/restore': 'admin-token',
  'admin GET /admin/migrations': 'admin-token',
  'admin GET /admin/tenants/:id/retention': 'admin-token',
  'admin PUT /admin/tenants/:id/retention': 'admin-token',
  'admin POST /admin/tenants/:id/users/:userId/deletion-plan': 'admin-token',
  'admin DELETE /admin/tenants/:id/users/:userId': 'admin-token',
  'admin DELETE /admin/tenants/:id': 'admin-token',
  'admin GET /admin/tenants/:id/support-grants': 'admin-token',
  'admin POST /admin/tenants/:id/query': 'admin-token',
  'admin GET /admin/tenants/:id/export': 'admin-token',
};

interface Route {
  listener: 'api' | 'admin';
  method: string;
  path: string;
}

/** Every handler route of an app, once per method and path (middleware registered with `use` is not a route). */
function routesOf(app: Hono<Env>, listener: 'api' | 'admin'): Route[] {
  const seen = new Map<string, Route>();
  for (const r of app.routes) {
    // `use` entries are ALL on a wildcard; the one ALL route we serve (/v1/*) has a plain handler.
    if (r.method === 'ALL' && r.handler.name !== '') continue;
    seen.set(`${listener} ${r.method} ${r.path}`, { listener, method: r.method, path: r.path });
  }
  return [...seen.values()];
}

const node = inProcessNode();
let n: InProcessNode;
let a: TenantWithKeys;
let b: TenantWithKeys;
let grantOfA = '';
const revoked = { ingest: '', query: '' };
let routes: Route[] = [];

before(async () => {
  n = await node.open();
  a = await n.createTenant('route-auth A', ['https://a.example']);
  b = await n.createTenant('route-auth B', ['https://b.example']);
  revoked.ingest = await n.revokedKey(a.tenant.id, 'ingest');
  revoked.query = await n.revokedKey(a.tenant.id, 'query');
  const g = await n.call<{ grant: { id: string } }>('POST', '/v1/support-grants', { body: { duration: '1h' }, headers: bearer(a.keys.query) });
  assert.equal(g.status, 201, g.text);
  grantOfA = g.body.grant.id;
  routes = [...routesOf(n.api, 'api'), ...routesOf(n.admin, 'admin')];
});

/** A concrete URL for a route pattern, naming tenant A's objects. */
function urlOf(r: Route): string {
  const keyIdOfA = /^pal_sk_([0-9A-Za-z]{16})_/.exec(a.keys.ingest)?.[1] ?? 'x';
  return r.path
    .replace(':file{palisade\\.m?js\\.sri}', 'palisade.js.sri')
    .replace(':file{palisade\\.m?js}', 'palisade.js')
    .replace('/v1/*', '/v1/track')
    .replace('/v1/:path', '/v1/track')
    .replace('/v1/support-grants/:id', `/v1/support-grants/${grantOfA}`)
    .replace('/admin/backups/:id', '/admin/backups/bk_doesnotexist')
    .replace(':keyId', keyIdOfA)
    .replace(':userId', 'user-1')
    .replace(':id', a.tenant.id);
}

async function send(r: Route, headers: Record<string, string>): Promise<{ status: number; code?: string; text: string }> {
  const app = r.listener === 'api' ? n.api : n.admin;
  const withBody = ['POST', 'PUT', 'PATCH'].includes(r.method);
  const event = { type: 'track', event: 'route-auth', userId: 'u1' };
  const res = await app.request(urlOf(r), {
    method: r.method === 'ALL' ? 'PUT' : r.method,
    headers: { ...(withBody ? { 'content-type': 'application/json' } : {}), ...headers },
    body: withBody ? JSON.stringify(r.path === '/v1/:path' ? event : {}) : undefined,
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    /* not JSON */
  }
  return { status: res.status, code, text };
}

const accessOf = (r: Route) => ACCESS[`${r.listener} ${r.method} ${r.path}`];

test('every route of both listeners is listed with its access rule', () => {
  assert.ok(routes.length >= 50, `found ${routes.length} routes`);
  const unlisted = routes.filter((r) => accessOf(r) === undefined).map((r) => `${r.listener} ${r.method} ${r.path}`);
  assert.deepEqual(unlisted, [], 'routes without an access rule: add them to ACCESS and give them tests');
  const served = new Set(routes.map((r) => `${r.listener} ${r.method} ${r.path}`));
  assert.deepEqual(Object.keys(ACCESS).filter((k) => !served.has(k)), [], 'ACCESS lists routes the apps no longer serve');
});

describe('no credential', () => {
  test('every key or admin-token route answers 401, before doing anything', async () => {
    for (const r of routes) {
      const access = accessOf(r);
      if (access !== 'ingest-key' && access !== 'query-key' && access !== 'admin-token') continue;
      const res = await send(r, {});
      assert.equal(res.status, 401, `${r.method} ${r.path}: ${res.text}`);
      assert.equal(res.code, 'unauthorized', `${r.method} ${r.path}`);
    }
  });

  test('public routes, preflights and the 405 answer without one and never with a 5xx', async () => {
    for (const r of routes) {
      const access = accessOf(r);
      if (access !== 'public' && access !== 'preflight' && access !== 'fallback') continue;
      // Preflights from an origin each policy allows: a tenant's for ingestion, the dashboard's for queries.
      const origin = r.path.startsWith('/v1/query') ? 'https://dash.example' : 'https://a.example';
      const res = await send(r, access === 'preflight' ? { origin, 'access-control-request-method': 'POST' } : {});
      const expected = access === 'fallback' ? 405 : access === 'preflight' ? 204 : 200;
      assert.equal(res.status, expected, `${r.listener} ${r.method} ${r.path}: ${res.text.slice(0, 200)}`);
    }
  });
});

describe('wrong scope', () => {
  test('a key of another scope is refused with 403 wrong_scope; a tenant key on the admin listener with 401', async () => {
    for (const r of routes) {
      const access = accessOf(r);
      if (access === 'ingest-key') {
        const res = await send(r, bearer(a.keys.query));
        assert.deepEqual([res.status, res.code], [403, 'wrong_scope'], `${r.method} ${r.path}`);
      } else if (access === 'query-key') {
        for (const key of [a.keys.ingest, a.keys.browser]) {
          const res = await send(r, bearer(key));
          assert.deepEqual([res.status, res.code], [403, 'wrong_scope'], `${r.method} ${r.path}`);
        }
      } else if (access === 'admin-token') {
        for (const key of [a.keys.query, a.keys.ingest]) {
          const res = await send(r, bearer(key));
          assert.deepEqual([res.status, res.code], [401, 'unauthorized'], `${r.method} ${r.path}`);
        }
      }
    }
  });
});

describe('revoked key', () => {
  test('a revoked key of the right scope is refused with 401 revoked_credential', async () => {
    for (const r of routes) {
      const access = accessOf(r);
      if (access !== 'ingest-key' && access !== 'query-key') continue;
      const res = await send(r, bearer(access === 'ingest-key' ? revoked.ingest : revoked.query));
      assert.deepEqual([res.status, res.code], [401, 'revoked_credential'], `${r.method} ${r.path}`);
    }
  });
});

describe("another tenant's key", () => {
  test("tenant B's key, on URLs naming tenant A's objects, gets nothing of A", async () => {
    for (const r of routes) {
      const access = accessOf(r);
      if (access !== 'ingest-key' && access !== 'query-key') continue;
      const res = await send(r, bearer(access === 'ingest-key' ? b.keys.ingest : b.keys.query));
      assert.ok(res.status < 500, `${r.method} ${r.path}: ${res.status}`);
      assert.ok(!res.text.includes(a.tenant.id), `${r.method} ${r.path} answered with tenant A's id: ${res.text.slice(0, 200)}`);
      // A's grant, named in the path, does not exist for B.
      if (r.path.includes(':id')) assert.deepEqual([res.status, res.code], [404, 'not_found'], `${r.method} ${r.path}`);
    }
    // A's grant is still live: B's attempt changed nothing.
    const list = await n.call<{ grants: { id: string; revokedAt: string | null }[] }>('GET', '/v1/support-grants', { headers: bearer(a.keys.query) });
    assert.ok(list.body.grants.some((g) => g.id === grantOfA && !g.revokedAt), list.text);
  });

  test("tenant B's browser key from tenant A's origin is refused", async () => {
    const r = await n.call('POST', '/v1/track', { body: { type: 'track', event: 'x', userId: 'u', writeKey: b.keys.browser }, headers: { origin: 'https://a.example', 'content-type': 'text/plain' } });
    assert.equal(r.status, 403);
    assert.equal((r.body as { error: { code: string } }).error.code, 'origin_not_allowed');
  });
});
