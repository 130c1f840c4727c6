/**
 * The OpenAPI documents against a real server (spawned, HTTPS, embedded
 * chDB): every response below, successes and refusals alike, must carry a
 * status the document lists for that path and method and a body valid
 * against that response's schema (test/helpers/openapi-contract.ts). Each
 * call also asserts the status and error code it was written to provoke, so
 * a case cannot pass by hitting some other documented answer. At the end,
 * every documented operation must have answered at least one 2xx here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { ContractChecker, type ContractResponse, type OpenApiDoc } from './helpers/openapi-contract.ts';
import { basic, createTenant, removeDir, ROOT, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const SHOP = 'https://shop.example';
const DASHBOARD = 'https://dash.example';
const committed = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as OpenApiDoc;
const publicDoc = committed('schemas/openapi/public.json');
const adminDoc = committed('schemas/openapi/admin.json');
const contract = { api: new ContractChecker(publicDoc, 405), admin: new ContractChecker(adminDoc, 404) };

let p: Palisade;
let dispatcher: Agent;
let a: CreatedTenant; // events, grants, backups
let capped: CreatedTenant; // tiny per-key event rate, one row to read per query
let limited: CreatedTenant; // one query a minute
let doomed: CreatedTenant; // deleted at the end

interface Call {
  headers?: Record<string, string>;
  body?: unknown;
  raw?: string | Buffer;
}

async function send(listener: 'api' | 'admin', method: string, route: string, o: Call = {}): Promise<ContractResponse> {
  const port = listener === 'api' ? p.apiPort : p.adminPort;
  const headers = { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers };
  const res = await request(`https://localhost:${port}${route}`, {
    method: method as 'GET',
    headers,
    body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    dispatcher,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Sends, checks the answer is the one provoked, then checks it against the document. */
async function expect(listener: 'api' | 'admin', method: string, route: string, status: number, o: Call & { code?: string } = {}): Promise<ContractResponse> {
  const res = await send(listener, method, route, o);
  assert.equal(res.status, status, `${method} ${route}: ${res.text.slice(0, 400)}`);
  if (o.code) assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, o.code);
  contract[listener].check(method, route, res);
  const sent = o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined);
  // Accepted whole: a batch answered with `rejected` was taken in part, and says which part it refused.
  if (res.status < 300 && sent !== undefined && !res.text.includes('"rejected"')) {
    const type = Object.entries(o.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? 'application/json';
    contract[listener].checkAcceptedRequest(method, route, type, JSON.parse(String(sent)));
  }
  return res;
}

const admin = (token = p.adminToken) => ({ authorization: `Bearer ${token}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = <T>(r: ContractResponse) => JSON.parse(r.text) as T;
// Within the last day, so no clock-skew correction moves them out of the queried range.
const track = (i: number) => ({ type: 'track', event: 'Contract Checked', userId: `u${i % 3}`, properties: { n: i }, timestamp: new Date(Date.now() - 3_600_000 - i * 60_000).toISOString() });

function countBy(labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of labels) {
    const status = l.split(' ')[2] ?? '';
    out[status] = (out[status] ?? 0) + 1;
  }
  return out;
}

before(async () => {
  // The credential sweep below fails ~40 authentications from one IP; the default cool-down (100) is kept clear of.
  p = await startPalisade({ env: { PALISADE_DASHBOARD_ORIGINS: DASHBOARD, PALISADE_AUTH_FAIL_IP_MAX: '1000' } });
  dispatcher = new Agent({ connect: { ca: readFileSync(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8') }, keepAliveTimeout: 1_000 });
  [a, capped, limited, doomed] = await Promise.all([createTenant(p, 'a', [SHOP]), createTenant(p, 'capped'), createTenant(p, 'limited'), createTenant(p, 'doomed')]);
  for (const t of [a, capped]) {
    const r = await p.api('POST', '/v1/batch', { body: { batch: Array.from({ length: 20 }, (_, i) => track(i)) }, headers: basic(t.keys.ingest) });
    assert.equal(r.status, 200, r.text);
  }
  await waitFor(async () => (await stats(p, a.tenant.id)).events >= 20 && (await stats(p, capped.tenant.id)).events >= 20, 20_000, 'events to land');
});

after(async () => {
  await dispatcher?.close();
  await p?.kill();
  if (p) await removeDir(p.dataDir);
});

describe('public API: real responses match schemas/openapi/public.json', () => {
  test('meta: health, readiness, and the served document is the committed one', async () => {
    await expect('api', 'GET', '/healthz', 200);
    const ready = await send('api', 'GET', '/readyz');
    contract.api.check('GET', '/readyz', ready);
    const served = await expect('api', 'GET', '/openapi.json', 200);
    assert.deepEqual(JSON.parse(served.text), publicDoc);
  });

  test('ingest: every route and alias, a batch with a rejected event, every preflight', async () => {
    const h = basic(a.keys.ingest);
    await expect('api', 'POST', '/v1/batch', 200, { body: { batch: [track(1), track(2)] }, headers: h });
    const partial = json<{ accepted: number; rejected: unknown[] }>(
      await expect('api', 'POST', '/v1/batch', 200, { body: { batch: [track(3), { type: 'track', userId: 'u1' }] }, headers: h }),
    );
    assert.equal(partial.accepted, 1);
    assert.equal(partial.rejected.length, 1);
    const one = {
      track: track(4),
      page: { type: 'page', name: 'Home', anonymousId: 'a1' },
      screen: { type: 'screen', name: 'Settings', userId: 7 },
      identify: { type: 'identify', userId: 'u1', traits: { plan: 'pro' } },
      group: { type: 'group', userId: 'u1', groupId: 'g1' },
      alias: { type: 'alias', userId: 'u1', previousId: 'a1' },
    };
    for (const [kind, event] of Object.entries(one)) {
      await expect('api', 'POST', `/v1/${kind}`, 200, { body: event, headers: bearer(a.keys.ingest) });
      await expect('api', 'POST', `/v1/${kind[0]}`, 200, { body: event, headers: h });
    }
    await expect('api', 'POST', '/v1/b', 200, { body: { batch: [track(5)] }, headers: h });
    // A browser beacon: publishable key in the body, from the tenant's allowed origin.
    await expect('api', 'POST', '/v1/track', 200, { raw: JSON.stringify({ ...track(6), writeKey: a.keys.browser }), headers: { 'content-type': 'text/plain', origin: SHOP } });
    for (const route of ['batch', 'track', 'page', 'screen', 'identify', 'group', 'alias', 'b', 't', 'p', 's', 'i', 'g', 'a']) {
      await expect('api', 'OPTIONS', `/v1/${route}`, 204, { headers: { origin: SHOP, 'access-control-request-method': 'POST' } });
    }
  });

  test('ingest refusals: 400, 401, 403, 404, 405, 413, 415, 429', async () => {
    const h = basic(a.keys.ingest);
    await expect('api', 'POST', '/v1/track', 400, { body: { type: 'track', userId: 'u1' }, headers: h, code: 'invalid_event' });
    await expect('api', 'POST', '/v1/batch', 400, { raw: '{"batch": [', headers: { ...h, 'content-type': 'application/json' }, code: 'invalid_json' });
    await expect('api', 'POST', '/v1/batch', 401, { body: { batch: [track(1)] }, code: 'unauthorized' });
    await expect('api', 'POST', '/v1/batch', 401, { body: { batch: [track(1)] }, headers: bearer('pal_sk_nonsense'), code: 'malformed_credential' });
    await expect('api', 'POST', '/v1/batch', 403, { body: { batch: [track(1)] }, headers: basic(a.keys.query), code: 'wrong_scope' });
    await expect('api', 'POST', `/v1/batch?writeKey=${a.keys.browser}`, 403, { body: { batch: [track(1)] }, headers: h, code: 'credential_in_url' });
    await expect('api', 'POST', '/v1/track', 403, { raw: JSON.stringify({ ...track(1), writeKey: a.keys.browser }), headers: { 'content-type': 'text/plain', origin: 'https://evil.example' }, code: 'origin_not_allowed' });
    await expect('api', 'OPTIONS', '/v1/batch', 403, { headers: { origin: 'https://evil.example' }, code: 'origin_not_allowed' });
    const big = { ...track(1), properties: { blob: 'x'.repeat(40 * 1024) } };
    await expect('api', 'POST', '/v1/track', 413, { body: big, headers: h, code: 'event_too_large' });
    await expect('api', 'POST', '/v1/batch', 415, { raw: '{}', headers: { ...h, 'content-type': 'application/json', 'content-encoding': 'br' }, code: 'unsupported_media_type' });
    await expect('api', 'GET', '/v1/batch', 405, { headers: h, code: 'method_not_allowed' });
    const unknown = await send('api', 'POST', '/v1/nothing-here', { body: { batch: [track(1)] }, headers: h });
    contract.api.checkUnlisted('POST', '/v1/nothing-here', unknown);

    await expect('admin', 'PATCH', `/admin/tenants/${capped.tenant.id}/settings`, 200, { body: { rateLimit: { eventsPerSecond: 1, burst: 1 } }, headers: admin() });
    // A batch pays its whole cost even past the burst: 100 events leave the bucket ~100 s in debt at 1 event/s.
    await expect('api', 'POST', '/v1/batch', 200, { body: { batch: Array.from({ length: 100 }, (_, i) => track(i)) }, headers: basic(capped.keys.ingest) });
    await expect('api', 'POST', '/v1/batch', 429, { body: { batch: [track(1)] }, headers: basic(capped.keys.ingest), code: 'rate_limited' });
  });

  test('query: every kind, the schema route, preflights', async () => {
    const h = basic(a.keys.query);
    const range = { from: '-2d', to: 'now' };
    const answers: Record<string, unknown> = {};
    for (const q of [
      { kind: 'trend', ...range, breakdown: { field: 'user' }, limit: 2 },
      { kind: 'top', ...range, by: { property: 'n' } },
      { kind: 'funnel', ...range, steps: [{ event: 'Contract Checked' }, { event: 'Contract Checked' }] },
      { kind: 'events', ...range, limit: 5 },
      { kind: 'warnings' },
      { kind: 'schema', ...range },
    ]) {
      answers[q.kind] = json(await expect('api', 'POST', '/v1/query', 200, { body: q, headers: h }));
    }
    // The checks ran on real data, not on empty answers.
    assert.ok((answers.trend as { total: number }).total >= 20);
    assert.ok((answers.events as { events: unknown[]; nextCursor: string | null }).nextCursor);
    // The rejected batch event reaches the warnings ledger in the background.
    await waitFor(async () => json<{ items: unknown[] }>(await expect('api', 'POST', '/v1/query', 200, { body: { kind: 'warnings' }, headers: h })).items.length > 0, 10_000, 'the rejected event in the warnings');
    await expect('api', 'GET', '/v1/query/schema?from=-700d', 200, { headers: h });
    await expect('api', 'OPTIONS', '/v1/query', 204, { headers: { origin: DASHBOARD, 'access-control-request-method': 'POST' } });
    await expect('api', 'OPTIONS', '/v1/query/schema', 204, { headers: { origin: DASHBOARD, 'access-control-request-method': 'GET' } });
  });

  test('query refusals: 400, 401, 403, 405, 415, 422, 429', async () => {
    const h = basic(a.keys.query);
    await expect('api', 'POST', '/v1/query', 400, { body: { kind: 'trend', tenant_id: 'ten_000000000000' }, headers: h, code: 'invalid_query' });
    await expect('api', 'GET', '/v1/query/schema?from=yesterday', 400, { headers: h, code: 'invalid_query' });
    await expect('api', 'POST', '/v1/query', 401, { body: { kind: 'trend' }, headers: bearer(`pal_sk_${'A'.repeat(16)}_${'B'.repeat(28)}`) });
    await expect('api', 'POST', '/v1/query', 403, { body: { kind: 'trend' }, headers: basic(a.keys.ingest), code: 'wrong_scope' });
    await expect('api', 'POST', '/v1/query', 403, { body: { kind: 'trend' }, headers: { ...h, origin: 'https://evil.example' }, code: 'origin_not_allowed' });
    await expect('api', 'POST', '/v1/query', 415, { raw: '{"kind":"trend"}', headers: { ...h, 'content-type': 'text/csv' }, code: 'unsupported_media_type' });
    await expect('api', 'PUT', '/v1/query', 405, { headers: h, code: 'method_not_allowed' });

    await expect('admin', 'PATCH', `/admin/tenants/${capped.tenant.id}/settings`, 200, { body: { query: { maxRowsToRead: 1 } }, headers: admin() });
    await expect('api', 'POST', '/v1/query', 422, { body: { kind: 'events', from: '-700d' }, headers: basic(capped.keys.query), code: 'query_too_expensive' });
    await expect('admin', 'PATCH', `/admin/tenants/${limited.tenant.id}/settings`, 200, { body: { query: { queriesPerMinute: 1 } }, headers: admin() });
    await expect('api', 'POST', '/v1/query', 200, { body: { kind: 'trend' }, headers: basic(limited.keys.query) });
    await expect('api', 'POST', '/v1/query', 429, { body: { kind: 'trend' }, headers: basic(limited.keys.query), code: 'too_many_queries' });
  });

  test('tenant self-service: audit trail, support grants, export, and their refusals', async () => {
    const h = bearer(a.keys.query);
    await expect('api', 'GET', '/v1/audit?limit=5', 200, { headers: h });
    await expect('api', 'GET', '/v1/audit?since=whenever', 400, { headers: h, code: 'bad_request' });
    await expect('api', 'GET', '/v1/audit', 403, { headers: bearer(a.keys.ingest), code: 'wrong_scope' });
    await expect('api', 'GET', '/v1/support-grants', 401, { code: 'unauthorized' });
    const grant = json<{ grant: { id: string } }>(await expect('api', 'POST', '/v1/support-grants', 201, { body: { duration: '2h', reason: 'contract test' }, headers: h })).grant;
    await expect('api', 'POST', '/v1/support-grants', 400, { body: { duration: '99d' }, headers: h, code: 'invalid_body' });
    await expect('api', 'POST', '/v1/support-grants', 415, { raw: '{"duration":"1h"}', headers: { ...h, 'content-type': 'text/plain' }, code: 'unsupported_media_type' });
    await expect('api', 'GET', '/v1/support-grants', 200, { headers: h });
    await expect('api', 'DELETE', `/v1/support-grants/${grant.id}`, 200, { headers: h });
    await expect('api', 'DELETE', '/v1/support-grants/sg_nothing', 404, { headers: h, code: 'not_found' });
    const exported = await expect('api', 'GET', '/v1/export', 200, { headers: h });
    assert.ok(exported.text.trim().split('\n').length > 20);
  });
});

/** Every documented operation that needs a credential, with its path parameters filled in. */
function guarded(doc: OpenApiDoc): { method: string; route: string }[] {
  const out: { method: string; route: string }[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const security = (op as { security?: unknown[] }).security;
      if (Array.isArray(security) && security.length === 0) continue;
      out.push({ method: method.toUpperCase(), route: template.replace(/\{[^}]+\}/g, (p) => (p === '{id}' ? 'ten_000000000000' : 'x')) });
    }
  }
  return out;
}

describe('every guarded route refuses a missing or wrong credential as documented', () => {
  test('public API: no credential is a 401, a browser key where it may not go a 403', async () => {
    const routes = guarded(publicDoc);
    assert.ok(routes.length >= 20);
    for (const { method, route } of routes) {
      const body = method === 'POST' ? { body: { batch: [track(1)], type: 'track', event: 'x', userId: 'u' } } : {};
      await expect('api', method, route, 401, body);
      // A publishable key: no origin for ingest, no read access elsewhere.
      const refusal = await expect('api', method, route, 403, { ...body, headers: bearer(a.keys.browser) });
      assert.match(json<{ error: { code: string } }>(refusal).error.code, /^(origin_not_allowed|wrong_scope)$/);
    }
  });

  test('admin API: no admin token is a 401', async () => {
    const routes = guarded(adminDoc);
    assert.ok(routes.length >= 25);
    for (const { method, route } of routes) await expect('admin', method, route, 401, { code: 'unauthorized' });
  });
});

describe('admin API: real responses match schemas/openapi/admin.json', () => {
  test('meta: health, metrics, doctor, migrations, the served document is the committed one', async () => {
    await expect('admin', 'GET', '/healthz', 200);
    await expect('admin', 'GET', '/metrics', 200);
    const served = await expect('admin', 'GET', '/openapi.json', 200);
    assert.deepEqual(JSON.parse(served.text), adminDoc);
    await expect('admin', 'GET', '/admin/doctor', 200, { headers: admin() });
    await expect('admin', 'GET', '/admin/migrations', 200, { headers: admin() });
    await expect('admin', 'GET', '/admin/doctor', 401, { code: 'unauthorized' });
    await expect('admin', 'GET', '/admin/tenants', 401, { headers: admin('not-the-token'), code: 'unauthorized' });
  });

  test('tenants, keys, settings: successes and refusals', async () => {
    const h = admin();
    const created = json<CreatedTenant>(await expect('admin', 'POST', '/admin/tenants', 201, { body: { name: 'contract', allowedOrigins: [SHOP] }, headers: h }));
    const id = created.tenant.id;
    await expect('admin', 'POST', '/admin/tenants', 400, { body: { name: 'x', allowedOrigins: ['https://shop.example/checkout'] }, headers: h, code: 'invalid_body' });
    await expect('admin', 'POST', '/admin/tenants', 415, { raw: '{"name":"x"}', headers: { ...h, 'content-type': 'text/plain' }, code: 'unsupported_media_type' });
    await expect('admin', 'POST', '/admin/tenants', 413, { raw: JSON.stringify({ name: 'x'.repeat(70 * 1024) }), headers: { ...h, 'content-type': 'application/json' }, code: 'payload_too_large' });
    await expect('admin', 'GET', '/admin/tenants', 200, { headers: h });
    await expect('admin', 'GET', `/admin/tenants/${id}`, 200, { headers: h });
    await expect('admin', 'GET', '/admin/tenants/ten_000000000000', 404, { headers: h, code: 'not_found' });
    await expect('admin', 'PATCH', `/admin/tenants/${id}`, 200, { body: { name: 'renamed', addAllowedOrigins: ['https://other.example'] }, headers: h });
    await expect('admin', 'GET', `/admin/tenants/${id}/stats`, 200, { headers: h });
    await expect('admin', 'GET', `/admin/tenants/${id}/keys`, 200, { headers: h });
    const key = json<{ key: { id: string } }>(await expect('admin', 'POST', `/admin/tenants/${id}/keys`, 201, { body: { scope: 'query' }, headers: h })).key;
    await expect('admin', 'POST', `/admin/tenants/${id}/keys`, 400, { body: { scope: 'root' }, headers: h, code: 'invalid_body' });
    await expect('admin', 'DELETE', `/admin/keys/${key.id}`, 200, { headers: h });
    await expect('admin', 'DELETE', `/admin/keys/${'Z'.repeat(16)}`, 404, { headers: h, code: 'not_found' });
    await expect('admin', 'GET', `/admin/tenants/${id}/settings`, 200, { headers: h });
    await expect('admin', 'PATCH', `/admin/tenants/${id}/settings`, 200, { body: { ipPolicy: 'drop', piiDrop: ['properties.email'] }, headers: h });
    await expect('admin', 'PATCH', `/admin/tenants/${id}/settings`, 400, { body: { ipPolicy: 'keep-everything' }, headers: h, code: 'invalid_body' });
    await expect('admin', 'PATCH', `/admin/tenants/${id}/settings`, 400, { body: { query: { timeoutSeconds: 300 } }, headers: h, code: 'query_cap_above_ceiling' });
    // A method the document does not list is a 404 on the admin listener.
    await expect('admin', 'PUT', '/admin/tenants', 404, { headers: h, code: 'not_found' });
    contract.admin.checkUnlisted('GET', '/admin/nothing-here', await send('admin', 'GET', '/admin/nothing-here', { headers: h }));
  });

  test('audit and backups', async () => {
    const h = admin();
    const id = a.tenant.id;
    await expect('admin', 'POST', '/admin/audit/verify', 200, { headers: h });
    await expect('admin', 'GET', `/admin/tenants/${id}/audit?limit=3`, 200, { headers: h });
    const lines = await expect('admin', 'GET', `/admin/tenants/${id}/audit?format=jsonl`, 200, { headers: h });
    assert.ok(lines.text.split('\n').length > 3);
    await expect('admin', 'GET', `/admin/tenants/${id}/audit?since=sometime`, 400, { headers: h, code: 'bad_request' });
    const backup = json<{ backup: { id: string } }>(await expect('admin', 'POST', '/admin/backups', 201, { body: { tenant: id }, headers: h })).backup;
    await expect('admin', 'POST', '/admin/backups', 400, { body: { tenant: 'everyone' }, headers: h, code: 'invalid_body' });
    await expect('admin', 'POST', '/admin/backups', 404, { body: { tenant: 'ten_000000000000' }, headers: h, code: 'not_found' });
    await expect('admin', 'GET', '/admin/backups', 200, { headers: h });
    await expect('admin', 'GET', `/admin/backups?tenant=${id}`, 200, { headers: h });
    await expect('admin', 'GET', `/admin/backups/${backup.id}`, 200, { headers: h });
    await expect('admin', 'GET', '/admin/backups/bk_nothing', 404, { headers: h, code: 'not_found' });
    await expect('admin', 'POST', `/admin/backups/${backup.id}/verify`, 200, { headers: h });
    await expect('admin', 'POST', `/admin/backups/${backup.id}/restore`, 200, { body: { tenant: id }, headers: h });
    await expect('admin', 'POST', '/admin/backups/bk_nothing/restore', 404, { headers: h, code: 'not_found' });
  });

  test('retention, deletion, support access', async () => {
    const h = admin();
    const id = a.tenant.id;
    await expect('admin', 'GET', `/admin/tenants/${id}/retention`, 200, { headers: h });
    await expect('admin', 'PUT', `/admin/tenants/${id}/retention`, 200, { body: { retentionDays: 3650 }, headers: h });
    await expect('admin', 'PUT', `/admin/tenants/${id}/retention`, 400, { body: { retentionDays: -1 }, headers: h, code: 'invalid_body' });
    await expect('admin', 'POST', `/admin/tenants/${id}/users/u2/deletion-plan`, 200, { headers: h });
    await expect('admin', 'POST', `/admin/tenants/${id}/users/u2/deletion-plan`, 400, { body: { anonymousIds: 'a' }, headers: h, code: 'invalid_body' });
    await expect('admin', 'DELETE', `/admin/tenants/${id}/users/u2`, 200, { body: { anonymousIds: ['a-u2'] }, headers: h });

    // Without a live grant from the tenant: 403; with one: the answer.
    await expect('admin', 'POST', `/admin/tenants/${id}/query`, 403, { body: { kind: 'trend' }, headers: h, code: 'forbidden' });
    await expect('admin', 'GET', `/admin/tenants/${id}/export`, 403, { headers: h, code: 'forbidden' });
    await expect('api', 'POST', '/v1/support-grants', 201, { body: { duration: '1h', reason: 'contract test' }, headers: bearer(a.keys.query) });
    await expect('admin', 'GET', `/admin/tenants/${id}/support-grants`, 200, { headers: h });
    await expect('admin', 'POST', `/admin/tenants/${id}/query`, 200, { body: { kind: 'top', from: '-700d', by: { field: 'event' } }, headers: h });
    await expect('admin', 'POST', `/admin/tenants/${id}/query`, 400, { body: { kind: 'top' }, headers: h, code: 'invalid_query' });
    await expect('admin', 'GET', `/admin/tenants/${id}/export`, 200, { headers: h });

    await expect('admin', 'DELETE', `/admin/tenants/${doomed.tenant.id}`, 200, { headers: h });
    await expect('admin', 'DELETE', `/admin/tenants/${doomed.tenant.id}`, 404, { headers: h, code: 'not_found' });
  });
});

test('every documented operation answered a 2xx above', (t) => {
  t.diagnostic(`checked against the document: ${contract.api.seen.size} public and ${contract.admin.seen.size} admin (method, path, status) combinations`);
  // Documented but not provoked here (a 500, a 503 with the database away, …): listed, not asserted.
  const left = [...contract.api.unexercised(), ...contract.admin.unexercised()];
  t.diagnostic(`documented answers not provoked: ${left.length}; by status: ${JSON.stringify(countBy(left))}`);
  // /readyz answers 200 or 503 as the node is; either is checked above.
  assert.deepEqual(contract.api.operationsWithoutSuccess().filter((o) => o !== 'GET /readyz'), []);
  assert.deepEqual(contract.admin.operationsWithoutSuccess(), []);
});
