/**
 * Every route of the API listener, in-process (`app.request()` on a node built
 * from real parts): a happy, an error and a security case each. The auth
 * refusals every key route shares are in ../route-auth.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basic, bearer, inProcessNode, type InProcessNode, type TenantWithKeys } from '../../../test/helpers/in-process.ts';

type ErrorBody = { error: { code: string; message: string; requestId: string } };
const code = (r: { body: unknown }) => (r.body as ErrorBody).error?.code;

const ORIGIN = 'https://shop.example';
const node = inProcessNode();
let n: InProcessNode;
let t: TenantWithKeys;
let other: TenantWithKeys;

before(async () => {
  n = await node.open();
  t = await n.createTenant('api routes', [ORIGIN]);
  other = await n.createTenant('api routes other', ['https://other.example']);
});
after(() => n?.setDraining(false));

describe('GET /healthz, GET /readyz', () => {
  test('happy: both answer without a credential', async () => {
    assert.deepEqual((await n.call('GET', '/healthz')).body, { status: 'ok' });
    const r = await n.call<{ status: string }>('GET', '/readyz');
    assert.deepEqual([r.status, r.body.status], [200, 'ready']);
  });
  test('error: a draining node is 503 degraded on /readyz', async () => {
    n.setDraining(true);
    const r = await n.call<{ status: string }>('GET', '/readyz');
    n.setDraining(false);
    assert.deepEqual([r.status, r.body.status], [503, 'degraded']);
  });
  test('security: JSON with nosniff and a request id, never cached', async () => {
    const r = await n.call('GET', '/healthz');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });
});

describe('GET /dashboard and its assets', () => {
  test('happy: the page and every asset, with their types', async () => {
    for (const [path, type] of [['/dashboard', 'text/html'], ['/dashboard/', 'text/html'], ['/dashboard/app.js', 'text/javascript'], ['/dashboard/app.css', 'text/css'], ['/dashboard/vendor/uplot.js', 'text/javascript'], ['/dashboard/vendor/uplot.css', 'text/css']] as const) {
      const r = await n.call('GET', path);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type') ?? '', new RegExp(type), path);
    }
  });
  test('error: an unknown asset is a 404 with the error body', async () => {
    const r = await n.call('GET', '/dashboard/nope.js');
    assert.deepEqual([r.status, code(r)], [404, 'not_found']);
  });
  test('security: a strict CSP and no framing', async () => {
    const r = await n.call('GET', '/dashboard');
    assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
  });
});

describe('GET /sdk/palisade.{js,mjs}[.sri]', () => {
  test('happy: the script with its SRI hash, and the hash alone', async () => {
    const js = await n.call('GET', '/sdk/palisade.js');
    assert.equal(js.status, 200);
    const sri = await n.call('GET', '/sdk/palisade.js.sri');
    assert.equal(sri.text, js.headers.get('x-palisade-sri'));
    assert.match(sri.text, /^sha384-/);
    assert.equal((await n.call('GET', '/sdk/palisade.mjs')).status, 200);
  });
  test('error: another file name is not served', async () => {
    assert.equal((await n.call('GET', '/sdk/other.js')).status, 404);
  });
  test('security: public CORS without Vary, and a 304 on a matching ETag', async () => {
    const js = await n.call('GET', '/sdk/palisade.js', { headers: { origin: 'https://any.example' } });
    assert.equal(js.headers.get('access-control-allow-origin'), '*');
    assert.equal(js.headers.get('vary'), null);
    const again = await n.call('GET', '/sdk/palisade.js', { headers: { 'if-none-match': js.headers.get('etag') ?? '' } });
    assert.equal(again.status, 304);
  });
});

describe('OPTIONS /v1/:path (ingestion preflight)', () => {
  test('happy: an origin some tenant allows gets the CORS answer', async () => {
    const r = await n.call('OPTIONS', '/v1/batch', { headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(r.headers.get('access-control-allow-methods'), 'POST');
    // What analytics-next and RudderStack's analytics-js send (sdk/third-party/browser-sdks.int.test.ts).
    const allowed = (r.headers.get('access-control-allow-headers') ?? '').split(', ');
    for (const h of ['authorization', 'content-type', 'content-encoding', 'x-retry-count', 'anonymousid', 'sentat', 'rsa-retry-attempt']) assert.ok(allowed.includes(h), h);
    assert.equal(r.headers.get('access-control-max-age'), '7200');
    assert.equal(r.headers.get('vary'), 'Origin');
  });
  test('error: no Origin is a 403', async () => {
    const r = await n.call('OPTIONS', '/v1/track');
    assert.deepEqual([r.status, code(r)], [403, 'origin_not_allowed']);
  });
  test('security: an origin no tenant allows gets no CORS headers', async () => {
    const r = await n.call('OPTIONS', '/v1/batch', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.deepEqual([r.status, code(r)], [403, 'origin_not_allowed']);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

describe('POST /v1/:path (ingestion)', () => {
  const event = { type: 'track', event: 'Signed Up', userId: 'u-1', properties: { plan: 'pro' } };

  test('happy: an ingest key sends an event; it reaches its tenant only', async () => {
    const r = await n.call('POST', '/v1/track', { body: { ...event, messageId: 'api-routes-1' }, headers: basic(t.keys.ingest) });
    assert.deepEqual([r.status, r.body], [200, { success: true }]);
    const short = await n.call('POST', '/v1/t', { body: { ...event, messageId: 'api-routes-2' }, headers: basic(t.keys.ingest) });
    assert.equal(short.status, 200);
    await n.flush();
    const rows = await n.warehouse.query<{ tenant_id: string; n: string }>(
      "SELECT tenant_id, count() AS n FROM events WHERE message_id IN ('api-routes-1', 'api-routes-2') GROUP BY tenant_id",
    );
    assert.deepEqual(rows.map((x) => [x.tenant_id, Number(x.n)]), [[t.tenant.id, 2]]);
  });

  test('error: malformed JSON, an unknown path and a bad event in a batch, each with its code', async () => {
    const bad = await n.call('POST', '/v1/track', { raw: '{not json', headers: { ...basic(t.keys.ingest), 'content-type': 'application/json' } });
    assert.deepEqual([bad.status, code(bad)], [400, 'invalid_json']);
    const nope = await n.call('POST', '/v1/nope', { body: event, headers: basic(t.keys.ingest) });
    assert.deepEqual([nope.status, code(nope)], [404, 'not_found']);
    const batch = await n.call<{ accepted: number; rejected: { index: number }[] }>('POST', '/v1/batch', { body: { batch: [event, { type: 'track' }] }, headers: basic(t.keys.ingest) });
    assert.deepEqual([batch.status, batch.body.accepted, batch.body.rejected.map((x) => x.index)], [200, 1, [1]]);
  });

  test('security: a header credential is checked before the body is read; keys never in the URL; secret keys never in the body', async () => {
    // A wrong key with a body that is not JSON: the answer is about the key, so the body was never parsed.
    const wrong = await n.call('POST', '/v1/track', { raw: '{not json', headers: { ...bearer(`pal_sk_${'A'.repeat(16)}_${'b'.repeat(28)}`), 'content-type': 'application/json' } });
    assert.equal(wrong.status, 401);
    const inUrl = await n.call('POST', `/v1/track?writeKey=${t.keys.browser}`, { body: event, headers: basic(t.keys.ingest) });
    assert.deepEqual([inUrl.status, code(inUrl)], [403, 'credential_in_url']);
    const secretInBody = await n.call('POST', '/v1/track', { body: { ...event, writeKey: t.keys.ingest } });
    assert.deepEqual([secretInBody.status, code(secretInBody)], [403, 'forbidden']);
  });

  test('security: a browser key works only from its own tenant origins, as writeKey or header; readable by that origin', async () => {
    const ok = await n.call('POST', '/v1/track', { raw: JSON.stringify({ ...event, writeKey: t.keys.browser }), headers: { origin: ORIGIN, 'content-type': 'text/plain' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(ok.headers.get('access-control-expose-headers') ?? '', /Retry-After, RateLimit, RateLimit-Policy/);
    const foreign = await n.call('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.browser), origin: 'https://other.example' } });
    assert.deepEqual([foreign.status, code(foreign)], [403, 'origin_not_allowed']);
    // Another tenant's origin: the refusal is readable there (the SDK must see "stop"), an accepted answer is not.
    assert.equal(foreign.headers.get('access-control-allow-origin'), 'https://other.example');
    const accepted = await n.call('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.ingest), origin: 'https://other.example' } });
    assert.deepEqual([accepted.status, accepted.headers.get('access-control-allow-origin')], [200, null]);
    const none = await n.call('POST', '/v1/track', { body: event, headers: basic(t.keys.browser) });
    assert.deepEqual([none.status, code(none)], [403, 'origin_not_allowed']);
  });

  test('error: a draining node refuses events with 503 before authenticating', async () => {
    n.setDraining(true);
    const r = await n.call('POST', '/v1/track', { body: event });
    n.setDraining(false);
    assert.deepEqual([r.status, code(r), r.headers.get('retry-after')], [503, 'unavailable', '1']);
  });
});

describe('ALL /v1/* (any other method)', () => {
  test('happy path of the fallback: GET on an event route is a 405', async () => {
    const r = await n.call('GET', '/v1/batch');
    assert.deepEqual([r.status, code(r)], [405, 'method_not_allowed']);
  });
  test('error: PUT on the query route is a 405 too', async () => {
    const r = await n.call('PUT', '/v1/query', { body: {} });
    assert.deepEqual([r.status, code(r)], [405, 'method_not_allowed']);
  });
  test('security: the 405 needs no credential and says nothing of tenants', async () => {
    const r = await n.call('DELETE', '/v1/track', { headers: basic(t.keys.ingest) });
    assert.equal(r.status, 405);
    assert.ok(!r.text.includes(t.tenant.id));
  });
});

describe('POST /v1/query, GET /v1/query/schema', () => {
  const trend = { kind: 'trend', from: '2026-01-01T00:00:00Z', to: '2026-01-08T00:00:00Z', interval: 'day' };

  test('happy: a trend and the schema for the tenant', async () => {
    const r = await n.call<{ kind: string; series: unknown[] }>('POST', '/v1/query', { body: trend, headers: bearer(t.keys.query) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'trend');
    const s = await n.call<{ kind: string }>('GET', '/v1/query/schema', { headers: bearer(t.keys.query) });
    assert.deepEqual([s.status, s.body.kind], [200, 'schema']);
  });

  test('error: an invalid query is 400 invalid_query and does not echo it; a bad schema range too', async () => {
    const r = await n.call('POST', '/v1/query', { body: { kind: 'trend', from: 'SELECT_SECRET' }, headers: bearer(t.keys.query) });
    assert.deepEqual([r.status, code(r)], [400, 'invalid_query']);
    assert.ok(!r.text.includes('SELECT_SECRET'));
    const s = await n.call('GET', '/v1/query/schema?from=yesterday-ish', { headers: bearer(t.keys.query) });
    assert.equal(s.status, 400);
  });

  test('security: only the dashboard origins; any other Origin is refused outright', async () => {
    const ok = await n.call('POST', '/v1/query', { body: trend, headers: { ...bearer(t.keys.query), origin: 'https://dash.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://dash.example');
    assert.equal(ok.headers.get('access-control-expose-headers'), 'X-Request-Id, Retry-After');
    const evil = await n.call('GET', '/v1/query/schema', { headers: { ...bearer(t.keys.query), origin: 'https://evil.example' } });
    assert.deepEqual([evil.status, code(evil)], [403, 'origin_not_allowed']);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const own = await n.call('GET', '/v1/query/schema', { headers: { ...bearer(t.keys.query), origin: 'https://palisade.example', host: 'palisade.example' } });
    assert.equal(own.status, 200);
  });
});

describe('OPTIONS /v1/query, /v1/query/schema', () => {
  test('happy: the dashboard origin gets GET and POST', async () => {
    for (const path of ['/v1/query', '/v1/query/schema']) {
      const r = await n.call('OPTIONS', path, { headers: { origin: 'https://dash.example', 'access-control-request-method': 'POST' } });
      assert.equal(r.status, 204, path);
      assert.equal(r.headers.get('access-control-allow-methods'), 'GET, POST');
      assert.equal(r.headers.get('access-control-allow-headers'), 'authorization, content-type');
    }
  });
  test('error: a preflight without an Origin is a 403', async () => {
    const r = await n.call<ErrorBody>('OPTIONS', '/v1/query');
    assert.deepEqual([r.status, r.body.error.message], [403, 'a preflight needs an Origin']);
  });
  test("security: a tenant's ingestion origin may not read queries", async () => {
    const r = await n.call('OPTIONS', '/v1/query/schema', { headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } });
    assert.deepEqual([r.status, code(r)], [403, 'origin_not_allowed']);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

describe('tenant self-service: /v1/audit, /v1/support-grants, /v1/export', () => {
  test('GET /v1/audit — happy: the tenant reads its own trail, and only its own', async () => {
    const r = await n.call<{ entries: { tenantId: string; action: string }[] }>('GET', '/v1/audit?since=1d', { headers: bearer(t.keys.query) });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.entries.length > 0);
    assert.ok(r.body.entries.every((e) => e.tenantId === t.tenant.id));
  });
  test('GET /v1/audit — error: a bad since or limit is a 400', async () => {
    assert.deepEqual(await n.call('GET', '/v1/audit?since=lately', { headers: bearer(t.keys.query) }).then((r) => [r.status, code(r)]), [400, 'bad_request']);
    assert.equal((await n.call('GET', '/v1/audit?limit=100000', { headers: bearer(t.keys.query) })).status, 400);
  });
  test('GET /v1/audit — security: a key in the query string is refused and never reaches auth', async () => {
    const r = await n.call('GET', `/v1/audit?key=${t.keys.query}`);
    assert.deepEqual([r.status, code(r)], [403, 'credential_in_url']);
  });

  test('POST, GET, DELETE /v1/support-grants — happy: grant, list, revoke', async () => {
    const g = await n.call<{ grant: { id: string; live: boolean } }>('POST', '/v1/support-grants', { body: { duration: '2h', reason: 'ticket 1' }, headers: bearer(t.keys.query) });
    assert.equal(g.status, 201, g.text);
    const list = await n.call<{ grants: { id: string }[] }>('GET', '/v1/support-grants', { headers: bearer(t.keys.query) });
    assert.ok(list.body.grants.some((x) => x.id === g.body.grant.id));
    const del = await n.call<{ grant: { id: string; revokedAt: string | null } }>('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(t.keys.query) });
    assert.equal(del.status, 200);
    assert.ok(del.body.grant.revokedAt);
  });
  test('support grants — error: more than 21 days, an unknown field, an unknown grant', async () => {
    const long = await n.call('POST', '/v1/support-grants', { body: { duration: '30d' }, headers: bearer(t.keys.query) });
    assert.deepEqual([long.status, code(long)], [400, 'invalid_body']);
    const extra = await n.call('POST', '/v1/support-grants', { body: { duration: '1h', tenantId: other.tenant.id }, headers: bearer(t.keys.query) });
    assert.deepEqual([extra.status, code(extra)], [400, 'invalid_body']);
    const unknown = await n.call('DELETE', '/v1/support-grants/grt_doesnotexist', { headers: bearer(t.keys.query) });
    assert.equal(unknown.status, 404);
  });
  test('support grants — a reason with half an emoji (a lone surrogate) is stored with U+FFFD in its place, not a 500', async () => {
    // Found by the HTTP-surface fuzz: the engine refused the row's escaped lone surrogate and the INSERT failed.
    const g = await n.call<{ grant: { id: string } }>('POST', '/v1/support-grants', { body: { duration: '1h', reason: 'ticket \ud83d' }, headers: bearer(t.keys.query) });
    assert.equal(g.status, 201, g.text);
    const list = await n.call<{ grants: { id: string; reason: string }[] }>('GET', '/v1/support-grants', { headers: bearer(t.keys.query) });
    assert.equal(list.body.grants.find((x) => x.id === g.body.grant.id)?.reason, 'ticket \ufffd');
  });
  test("support grants — security: another tenant's list does not show this tenant's grants", async () => {
    const g = await n.call<{ grant: { id: string } }>('POST', '/v1/support-grants', { body: { duration: '1h' }, headers: bearer(t.keys.query) });
    const theirs = await n.call<{ grants: { id: string }[] }>('GET', '/v1/support-grants', { headers: bearer(other.keys.query) });
    assert.ok(!theirs.body.grants.some((x) => x.id === g.body.grant.id));
    const revokeByOther = await n.call('DELETE', `/v1/support-grants/${g.body.grant.id}`, { headers: bearer(other.keys.query) });
    assert.equal(revokeByOther.status, 404);
  });

  test('GET /v1/export — happy: JSON lines, the tenant line first and the end line last', async () => {
    const r = await n.call('GET', '/v1/export', { headers: bearer(t.keys.query) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l) as { record: string; tenant?: { id: string } });
    assert.equal(lines[0]?.record, 'tenant');
    assert.equal(lines[0]?.tenant?.id, t.tenant.id);
    assert.equal(lines.at(-1)?.record, 'end');
  });
  test('GET /v1/export — error: an ingest key may not export', async () => {
    const r = await n.call('GET', '/v1/export', { headers: basic(t.keys.ingest) });
    assert.deepEqual([r.status, code(r)], [403, 'wrong_scope']);
  });
  test("GET /v1/export — security: another tenant's export holds none of this tenant's events", async () => {
    const r = await n.call('GET', '/v1/export', { headers: bearer(other.keys.query) });
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes(t.tenant.id));
    assert.ok(!r.text.includes('api-routes-1'));
  });
});
