import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Hono } from 'hono';
import { Authenticator } from '../../auth/authenticator.ts';
import { KeyTable } from '../../auth/key-table.ts';
import { newKeyId, newSecretToken, publishableKey } from '../../auth/tokens.ts';
import { createLogger } from '../../log/index.ts';
import { notFound, onError } from '../errors.ts';
import type { Env } from '../types.ts';
import { adminToken } from './admin-token.ts';
import { browserOrigin } from './browser-origin.ts';
import { sharedJsonBody } from './json-body.ts';
import { keyAuth, noCredentialInUrl, principalOf } from './key-auth.ts';

const TENANT = 'ten_aaaaaaaaaaaa';
const ORIGIN = 'https://shop.example';
const keys = new KeyTable();
const auth = new Authenticator({ keys, cacheTtlMs: 60_000, argon2Concurrency: 1 });
const tokens = { ingest: '', query: '', browser: '' };

before(async () => {
  const records = [];
  for (const scope of ['ingest', 'query'] as const) {
    const id = newKeyId();
    const { token, secret } = newSecretToken(id);
    tokens[scope] = token;
    records.push({ id, tenantId: TENANT, scope, secretHash: await Authenticator.hashSecret(secret), revoked: false });
  }
  const browserId = newKeyId();
  tokens.browser = publishableKey(browserId);
  records.push({ id: browserId, tenantId: TENANT, scope: 'browser' as const, secretHash: '', revoked: false });
  keys.replace({ keys: records, tenants: [{ id: TENANT, name: 't', allowedOrigins: [ORIGIN], deleted: false }] });
});

function base(): Hono<Env> {
  const app = new Hono<Env>();
  app.onError(onError(createLogger('silent')));
  app.notFound(notFound);
  app.use('*', async (c, next) => {
    c.set('requestId', 'req-1');
    c.set('clientIp', '192.0.2.1');
    await next();
  });
  return app;
}

async function call(app: Hono<Env>, path: string, init: RequestInit = {}): Promise<{ status: number; code?: string; message?: string; body: unknown; res: Response }> {
  const res = await app.request(path, init);
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message, body, res };
}

describe('keyAuth', () => {
  function ingestApp() {
    let reads = 0;
    const shared = sharedJsonBody({ limits: { maxBodyBytes: 1024, maxDecompressedBytes: 1024 }, allowTextPlain: true });
    const counted = (c: Parameters<typeof shared>[0]) => {
      if (!c.get('jsonBody')) reads++;
      return shared(c);
    };
    const app = base();
    app.post(
      '/v1/track',
      noCredentialInUrl(),
      keyAuth({ auth, scopes: ['ingest', 'browser'], wrongScope: (s) => `a ${s} key cannot send events`, bodyCredential: counted }),
      browserOrigin({ keys, exposeHeaders: 'X-Request-Id' }),
      async (c) => c.json({ principal: principalOf(c), body: await counted(c) }),
    );
    return { app, reads: () => reads };
  }

  test('a header credential is checked before the body is read: a wrong key never costs a parse', async () => {
    const { app, reads } = ingestApp();
    const r = await call(app, '/v1/track', { method: 'POST', headers: { authorization: `Bearer ${tokens.ingest.slice(0, -1)}${tokens.ingest.endsWith('x') ? 'y' : 'x'}`, 'content-type': 'application/json' }, body: '{not json' });
    assert.deepEqual([r.status, r.code], [401, 'malformed_credential']);
    assert.equal(reads(), 0);
  });

  test('a publishable key as writeKey: the body is read once and shared with the handler', async () => {
    const { app, reads } = ingestApp();
    const body = { writeKey: tokens.browser, event: 'e' };
    const r = await call(app, '/v1/track', { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'text/plain' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { principal: { tenantId: TENANT, keyId: tokens.browser.slice(7), scope: 'browser' }, body });
    assert.equal(reads(), 1);
    assert.equal(r.res.headers.get('access-control-allow-origin'), ORIGIN);
  });

  test('a header credential of the right scope: the handler runs as its principal', async () => {
    const { app } = ingestApp();
    const r = await call(app, '/v1/track', { method: 'POST', headers: { authorization: `Bearer ${tokens.ingest}`, 'content-type': 'application/json' }, body: '{"event":"e"}' });
    assert.equal(r.status, 200);
    assert.equal((r.body as { principal: { scope: string } }).principal.scope, 'ingest');
  });

  test("the wrong scope is 403 wrong_scope with the group's own message", async () => {
    const { app } = ingestApp();
    const r = await call(app, '/v1/track', { method: 'POST', headers: { authorization: `Bearer ${tokens.query}`, 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual([r.status, r.code, r.message], [403, 'wrong_scope', 'a query key cannot send events']);
  });

  test('no credential anywhere is 401; a key in the URL is 403 before any of it', async () => {
    const { app, reads } = ingestApp();
    const none = await call(app, '/v1/track', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual([none.status, none.code], [401, 'unauthorized']);
    const before = reads();
    const url = await call(app, `/v1/track?writeKey=${tokens.browser}`, { method: 'POST', headers: { authorization: `Bearer ${tokens.ingest}`, 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual([url.status, url.code], [403, 'credential_in_url']);
    assert.equal(reads(), before);
  });

  test('a browser key from another origin is refused by browserOrigin', async () => {
    const { app } = ingestApp();
    const r = await call(app, '/v1/track', { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: tokens.browser }) });
    assert.deepEqual([r.status, r.code], [403, 'origin_not_allowed']);
  });

  test('header only (no bodyCredential): a writeKey in the body is not looked at', async () => {
    const app = base();
    app.post('/v1/query', keyAuth({ auth, scopes: ['query'], wrongScope: () => 'no' }), (c) => c.json({ ok: principalOf(c).scope }));
    const r = await call(app, '/v1/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ writeKey: tokens.browser }) });
    assert.deepEqual([r.status, r.code], [401, 'unauthorized']);
    const ok = await call(app, '/v1/query', { method: 'POST', headers: { authorization: `Bearer ${tokens.query}` } });
    assert.deepEqual(ok.body, { ok: 'query' });
  });

  test('a route that forgot keyAuth fails closed (500), it never runs without a principal', async () => {
    const app = base();
    app.get('/v1/oops', (c) => c.json(principalOf(c)));
    const r = await call(app, '/v1/oops');
    assert.deepEqual([r.status, r.code], [500, 'internal']);
  });
});

describe('adminToken', () => {
  test('declared by two groups on one app: refused without the token, served with it, unknown paths still need it', async () => {
    const group = (path: string) => {
      const g = new Hono<Env>();
      g.use('/admin/*', adminToken('the-token'));
      g.get(path, (c) => c.json({ path, verified: c.get('adminAuthenticated') }));
      return g;
    };
    const app = base();
    app.route('/', group('/admin/a'));
    app.route('/', group('/admin/b'));
    const auth = { authorization: 'Bearer the-token' };
    assert.deepEqual([(await call(app, '/admin/b')).status, (await call(app, '/admin/b')).code], [401, 'unauthorized']);
    assert.equal((await call(app, '/admin/b', { headers: { authorization: 'Bearer the-tokeN' } })).status, 401);
    assert.deepEqual((await call(app, '/admin/b', { headers: auth })).body, { path: '/admin/b', verified: true });
    assert.equal((await call(app, '/admin/nothing')).status, 401);
    assert.equal((await call(app, '/admin/nothing', { headers: auth })).status, 404);
  });
});
