/**
 * The whole public HTTP surface: generated requests for every route and
 * field of both listeners, bodies derived from the zod schemas that validate
 * them (helpers/zod-arbitrary.ts) and mixed with hostile values, sent eight at
 * a time. Every answer is below 500, every refusal carries a code from the
 * ErrorCode enum, and the node is still up and logged no unhandled error at
 * the end. PALISADE_FUZZ_RUNS sets the number of requests (10,000 by
 * default): nine in ten go to both listeners' apps in-process
 * (`app.request()` on a node built from the same real parts, chDB included,
 * helpers/in-process.ts), where a request costs no TLS record, socket or
 * HTTP parse; one in ten (1,000 by default) go to a real spawned server over
 * HTTPS and keep-alive, for what only a process has (Node's HTTP parser and
 * limits, TLS, bodies read from the socket, the server's own log and exit).
 * First, each finding of the external review as a named test, over HTTPS.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { BatchBodySchema, WIRE_EVENT_SCHEMAS } from '../schemas/wire.ts';
import { TenantSettingsPatch } from '../schemas/tenant-settings.ts';
import { ErrorCode } from '../src/errors/index.ts';
import { CreateKey, CreateTenant, UpdateTenant } from '../src/http/routes/admin.ts';
import { BackupBody } from '../src/http/routes/audit-backup-admin.ts';
import { RetentionBody, UserDeletionBody } from '../src/http/routes/tenant-data-admin.ts';
import { CreateGrant } from '../src/http/routes/tenant-self.ts';
import { Query } from '../src/query/schema.ts';
import { caOf, rawTls, readUntilClose } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';
import { startInProcess, type InProcessPalisade } from './helpers/in-process.ts';
import { arbitraryFromZod, CURSORS, hostileValue, TIME_STRINGS } from './helpers/zod-arbitrary.ts';

const ENV = {
  PALISADE_BACKUP_INTERVAL: 'off',
  // Limits would turn most generated requests into 429s; the limits have their own tests.
  PALISADE_IP_RATE_LIMIT: '0',
  PALISADE_KEY_RATE_LIMIT: '0',
  PALISADE_AUTH_FAIL_IP_MAX: '0',
  PALISADE_AUTH_FAIL_KEY_MAX: '0',
  PALISADE_QUERY_MAX_CONCURRENT: '16',
  PALISADE_QUERY_MAX_PER_TENANT: '16',
};
const REQUESTS = Number(process.env.PALISADE_FUZZ_RUNS ?? 10_000);
// One in ten over real HTTPS (1,000 of the default 10,000): enough for every generator to reach
// the spawned server many times (the rarest has weight 1 in 73, ~14 requests); the rest in-process.
const OVER_HTTPS = Math.ceil(REQUESTS / 10);
const IN_PROCESS = REQUESTS - OVER_HTTPS;
const PARALLEL = 8;
const ORIGIN = 'https://shop.example';
const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const MISSING_TENANT = 'ten_AAAAAAAAAAAA';

let p: Palisade;
let m: CreatedTenant; // the tenant the public API is driven with
let v: CreatedTenant; // the tenant admin mutations are driven against
let s: CreatedTenant; // scrubber on
let agent: Agent;
let local: InProcessPalisade;

/** Where generated requests go: the tenants they name, the admin token, how one is sent, and the node's log. */
interface Target {
  m: CreatedTenant;
  v: CreatedTenant;
  adminToken: string;
  send(r: Req): Promise<Res>;
  output: string[];
}
let overHttps: Target;
let inProcess: Target;

interface Req {
  listener: 'api' | 'admin';
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

interface Res {
  status: number;
  text: string;
}

const timing = new Map<string, { n: number; ms: number }>();
const send = (r: Req): Promise<Res> => timed(r, sendOnce);
async function timed(r: Req, sendOnce: (r: Req) => Promise<Res>): Promise<Res> {
  const t0 = performance.now();
  try {
    return await sendOnce(r);
  } finally {
    const k = `${r.method} ${r.path.split('?')[0]?.replace(/ten_[0-9A-Za-z]{12}/g, ':id').slice(0, 60)}`;
    const e = timing.get(k) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += performance.now() - t0;
    timing.set(k, e);
  }
}
async function sendOnce(r: Req): Promise<Res> {
  const port = r.listener === 'api' ? p.apiPort : p.adminPort;
  const res = await request(`https://localhost:${port}${r.path}`, { method: r.method, headers: r.headers, body: r.body, dispatcher: agent });
  return { status: res.statusCode, text: await res.body.text() };
}

/** The same request to the in-process node's app for its listener, with the Host an HTTPS client sends. */
async function sendInProcess(r: Req): Promise<Res> {
  const app = r.listener === 'api' ? local.node.api : local.node.admin;
  const res = await app.request(r.path, { method: r.method, headers: { host: `localhost:${local.apiPort}`, ...r.headers }, body: r.body as BodyInit | undefined });
  return { status: res.status, text: await res.text() };
}
const sendLocal = (r: Req): Promise<Res> => timed(r, sendInProcess);

function codeOf(res: Res): string | undefined {
  try {
    return (JSON.parse(res.text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** A refusal: the status and its documented code. */
function refused(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(codeOf(res), code, res.text);
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const api = (method: Req['method'], route: string, headers: Record<string, string>, body?: unknown): Req => ({
  listener: 'api',
  method,
  path: route,
  headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

/** The three tenants, their settings and a live support grant, made the same way on either node. */
async function seed(node: Pick<Palisade, 'admin' | 'api'>): Promise<{ m: CreatedTenant; v: CreatedTenant; s: CreatedTenant }> {
  const m = await createTenant(node, 'main', [ORIGIN]);
  // No allowed origin: its browser key from ORIGIN is a cross-tenant attempt, and it never holds events.
  const v = await createTenant(node, 'victim', []);
  const s = await createTenant(node, 'scrubbed', [ORIGIN]);
  assert.equal((await node.admin('PATCH', `/admin/tenants/${m.tenant.id}/settings`, { piiHash: ['traits.email'], piiDrop: ['traits.ssn'] })).status, 200);
  assert.equal((await node.admin('PATCH', `/admin/tenants/${s.tenant.id}/settings`, { scrubPii: true })).status, 200);
  // A live grant, so the operator routes that read main's data run their queries.
  assert.equal((await node.api('POST', '/v1/support-grants', { body: { duration: '1d', reason: 'fuzz' }, headers: bearer(m.keys.query) })).status, 201);
  return { m, v, s };
}

before(async () => {
  p = await startPalisade({ env: ENV });
  const ca = await readFile(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  agent = new Agent({ connect: { ca }, connections: PARALLEL * 2, keepAliveTimeout: 10_000 });
  ({ m, v, s } = await seed(p));
  overHttps = { m, v, adminToken: p.adminToken, send, output: p.output };
  local = await startInProcess({ env: ENV });
  const seeded = await seed(local);
  inProcess = { m: seeded.m, v: seeded.v, adminToken: local.adminToken, send: sendLocal, output: local.output };
});

after(async () => {
  await agent?.close();
  await local?.kill();
  if (p && p.proc.exitCode === null) await p.kill();
  if (p) await removeDir(p.dataDir);
});

describe('findings of the external review, each a named regression', () => {
  test('a URL over the header limit gets 431 with the error body and code headers_too_large, not an empty reply', async () => {
    const socket = await rawTls(p.apiPort, await caOf(p));
    socket.write(`GET /v1/audit?since=${'7'.repeat(20 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const { data } = await readUntilClose(socket, 10_000);
    socket.destroy();
    assert.match(data, /^HTTP\/1\.1 431/);
    const body = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
    assert.equal(body.error.code, ErrorCode.HEADERS_TOO_LARGE);
  });

  test('GET /v1/audit: since=999999d, since=+275760-09-13T00:00:00Z and an after cursor with seq:-1 are 400s with a code, not 500', async () => {
    const q = (s: string) => send(api('GET', `/v1/audit?${s}`, bearer(m.keys.query)));
    refused(await q('since=999999d'), 400, ErrorCode.BAD_REQUEST);
    refused(await q(`since=${encodeURIComponent('+275760-09-13T00:00:00Z')}`), 400, ErrorCode.BAD_REQUEST);
    refused(await q(`until=${encodeURIComponent('+275760-09-13T00:00:00Z')}`), 400, ErrorCode.BAD_REQUEST);
    const seq = Buffer.from(JSON.stringify({ at: '2026-01-01 00:00:00.000', node: 'n', seq: -1 })).toString('base64url');
    refused(await q(`after=${seq}`), 400, ErrorCode.INVALID_CURSOR);
    refused(await send({ listener: 'admin', method: 'GET', path: `/admin/tenants/${m.tenant.id}/audit?since=999999d`, headers: bearer(p.adminToken) }), 400, ErrorCode.BAD_REQUEST);
    assert.equal((await q('since=7d')).status, 200);
  });

  test('a trend in US/Pacific-New or SystemV/AST4 (zones Node knows and ClickHouse does not) is 400 invalid_query, not 500', async () => {
    for (const timezone of ['US/Pacific-New', 'SystemV/AST4']) {
      refused(await send(api('POST', '/v1/query', bearer(m.keys.query), { kind: 'trend', timezone })), 400, ErrorCode.INVALID_QUERY);
    }
    assert.equal((await send(api('POST', '/v1/query', bearer(m.keys.query), { kind: 'trend', timezone: 'America/St_Johns', interval: 'hour', from: '-1d' }))).status, 200);
  });

  test('a query filter number beyond ±2^53 is 400 invalid_query, not a 503 "database is busy" logged as "warehouse unavailable"', async () => {
    const logged = p.output.length;
    for (const value of [2 ** 53, -(2 ** 53), 1e300]) {
      const res = await send(api('POST', '/v1/query', bearer(m.keys.query), { kind: 'events', filters: [{ property: 'price', op: 'gt', value }] }));
      refused(res, 400, ErrorCode.INVALID_QUERY);
    }
    assert.ok(!p.output.slice(logged).some((l) => l.includes('warehouse unavailable')), 'a client error is not logged as an outage');
  });

  test('a secret key in a body is refused with 403 even with a header credential, and as a per-event writeKey in a browser batch', async () => {
    const withHeader = await send(api('POST', '/v1/track', basic(m.keys.ingest), { event: 'x', userId: 'u', writeKey: m.keys.ingest }));
    refused(withHeader, 403, ErrorCode.FORBIDDEN);
    const inProperty = await send(api('POST', '/v1/track', basic(m.keys.ingest), { event: 'x', userId: 'u', properties: { leaked: m.keys.query } }));
    refused(inProperty, 403, ErrorCode.FORBIDDEN);
    const perEvent = await send(api('POST', '/v1/batch', { origin: ORIGIN }, { writeKey: m.keys.browser, batch: [{ type: 'track', event: 'x', userId: 'u', writeKey: m.keys.ingest }] }));
    refused(perEvent, 403, ErrorCode.FORBIDDEN);
    assert.ok(!perEvent.text.includes(m.keys.ingest.slice(7)), 'the refusal never echoes the key');
  });

  test('PII rules on traits.email / traits.ssn cover context.traits: neither /v1/query nor /v1/export returns the plain values', async () => {
    const identify = { userId: 'p', context: { traits: { email: 'x@y', ssn: '123-45-6789' } }, traits: { email: 'x@y' } };
    assert.equal((await send(api('POST', '/v1/identify', basic(m.keys.ingest), identify))).status, 200);
    const events = await waitFor(async () => {
      const r = await send(api('POST', '/v1/query', bearer(m.keys.query), { kind: 'events', events: [], filters: [{ field: 'user_id', op: 'eq', value: 'p' }] }));
      return r.status === 200 && r.text.includes('"p"') ? r.text : undefined;
    }, 5_000, 'the identify stored');
    const exported = (await send(api('GET', '/v1/export', bearer(m.keys.query)))).text;
    for (const text of [events, exported]) {
      assert.ok(!text.includes('x@y'), 'the plain e-mail is nowhere');
      assert.ok(!text.includes('123-45-6789'), 'the SSN is nowhere');
    }
    assert.match(events, /"email":"[0-9a-f]{64}"/);
  });

  test('the scrubber (--scrub-pii on) finds e-mails as userId, in event names and keys, full-width and URL-encoded', async () => {
    const batch = [
      { type: 'track', event: 'Invited carol@example.com', userId: 'jane@example.com', properties: { 'dave@example.com': 1, note: 'ｅｖｅ＠ｅｘａｍｐｌｅ．ｃｏｍ', link: '/p?to=frank%40example.com' } },
    ];
    assert.equal((await send(api('POST', '/v1/batch', basic(s.keys.ingest), { batch }))).status, 200);
    const text = await waitFor(async () => {
      const r = await send(api('POST', '/v1/query', bearer(s.keys.query), { kind: 'events' }));
      return r.status === 200 && r.text.includes('Invited') ? r.text : undefined;
    }, 5_000, 'the scrubbed event stored');
    for (const who of ['carol', 'jane', 'dave', 'ｅｖｅ', 'frank']) assert.ok(!text.includes(who), `${who}'s address is gone: ${text}`);
    assert.match(text, /"userId":"pii_[0-9a-f]{32}"/);
    assert.match(text, /Invited \[email\]/);
  });
});

// ---------------------------------------------------------------- generators

const tenantIds = (t: Target) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(t.m.tenant.id, t.v.tenant.id, MISSING_TENANT) }, { weight: 1, arbitrary: segment() });
/** Only tenants a generated request may change or destroy: never main, never the scrubbed one. */
const safeTenantIds = (t: Target) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(t.v.tenant.id, MISSING_TENANT) }, { weight: 1, arbitrary: segment() });
const missingTenantIds = () => fc.oneof({ weight: 3, arbitrary: fc.constant(MISSING_TENANT) }, { weight: 1, arbitrary: segment() });

/** Any value as one URL path segment or query value (lone surrogates made well-formed so they can be encoded). */
function enc(value: unknown): string {
  // Kept under the 16 KB header limit: an oversized URL is the parser's 431, tested on its own above
  // (over keep-alive, the server closing mid-upload shows up as a reset, not as a status).
  const whole = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  const s = whole.length > 1_500 ? whole.slice(0, 1_500) : whole;
  return encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
}
const segment = () => hostileValue().map((x) => (typeof x === 'string' && x.length > 0 && x.length < 2_000 ? x : text(x).slice(0, 200) || 'x'));
/** A generated value as text. String() throws on an object without a prototype, which the generators sometimes make. */
function text(x: unknown): string {
  try {
    return String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

/** A query string from named parameters, each absent, hinted or hostile. */
function queryString(names: Record<string, readonly string[]>): fc.Arbitrary<string> {
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [n, hints] of Object.entries(names)) {
    rec[n] = fc.oneof(hints.length > 0 ? fc.constantFrom(...hints) : fc.constant('1'), hostileValue(n));
  }
  return fc.record(rec, { requiredKeys: [] }).map((r) => {
    const q = Object.entries(r).map(([k, x]) => `${k}=${enc(x)}`).join('&');
    return q ? `?${q}` : '';
  });
}

type Who = 'right' | 'none' | 'wrongScope' | 'garbage' | 'unknownKey' | 'publishable';
// Mostly the right credential, so most requests get past authentication to the fields.
const who = fc.oneof({ weight: 12, arbitrary: fc.constant<Who>('right') }, { weight: 5, arbitrary: fc.constantFrom<Who>('none', 'wrongScope', 'garbage', 'unknownKey', 'publishable') });

function credential(t: Target, w: Who, right: Record<string, string>, wrong: Record<string, string>): Record<string, string> {
  switch (w) {
    case 'right':
      return right;
    case 'none':
      return {};
    case 'wrongScope':
      return wrong;
    case 'garbage':
      return { authorization: 'Basic !!!notbase64' };
    case 'unknownKey':
      return basic('pal_sk_ZZZZZZZZZZZZZZZZ_0000000000000000000000AAAAAA');
    case 'publishable':
      return bearer(t.m.keys.browser);
  }
}

/** A body: the schema's values, or now and then bytes no schema describes. */
function bodyOf(schema: Parameters<typeof arbitraryFromZod>[0]): fc.Arbitrary<{ body: string | Buffer; type?: string; encoding?: string }> {
  const raw = fc.constantFrom<{ body: string | Buffer; type?: string; encoding?: string }>(
    { body: '{"a":' },
    { body: '' },
    { body: 'null' },
    { body: '[]' },
    { body: '1e999' },
    { body: '['.repeat(100_000) },
    { body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
    { body: 'not gzip', encoding: 'gzip' },
    { body: gzipSync('{"event":"x","userId":"u"}'), encoding: 'gzip' },
    { body: '{}', encoding: 'br' },
    { body: '{}', type: 'text/html' },
    { body: 'event=x&userId=u', type: 'application/x-www-form-urlencoded' },
  );
  const described = arbitraryFromZod(schema).map((x) => ({ body: JSON.stringify(x) ?? 'null' }));
  return fc.oneof({ weight: 8, arbitrary: described }, { weight: 1, arbitrary: raw });
}

function withBody(base: Omit<Req, 'body'>, b: { body: string | Buffer; type?: string; encoding?: string }): Req {
  return {
    ...base,
    headers: { ...base.headers, 'content-type': b.type ?? 'application/json', ...(b.encoding ? { 'content-encoding': b.encoding } : {}) },
    body: b.body,
  };
}

const adminHeaders = (t: Target, w: Who): Record<string, string> => (w === 'right' || w === 'wrongScope' ? bearer(t.adminToken) : credential(t, w, bearer(t.adminToken), {}));

function requests(t: Target): fc.Arbitrary<Req> {
  const { m, v } = t;
  const ingestPaths = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;
  // One arbitrary per type, built once: building one (a JSON Schema from zod, fast-check's string
  // tables) inside a chain() would redo it for every request, ~7 % of this file's main thread.
  const single = fc.oneof(
    ...ingestPaths.map((type) =>
      fc.tuple(who, bodyOf(WIRE_EVENT_SCHEMAS[type]), fc.constantFrom(type, type[0] as string)).map(([w, b, name]) =>
        withBody({ listener: 'api', method: 'POST', path: `/v1/${name}`, headers: credential(t, w, basic(m.keys.ingest), bearer(m.keys.query)) }, b),
      ),
    ),
  );
  const batch = fc.tuple(who, bodyOf(BatchBodySchema)).map(([w, b]) =>
    withBody({ listener: 'api', method: 'POST', path: '/v1/batch', headers: credential(t, w, basic(m.keys.ingest), bearer(m.keys.query)) }, b),
  );
  // A browser beacon: the publishable key in the body, from an allowed (or another) origin.
  const beacon = fc.tuple(arbitraryFromZod(BatchBodySchema), fc.constantFrom(ORIGIN, 'https://evil.example', ''), fc.constantFrom(m.keys.browser, v.keys.browser, 'pal_pk_ZZZZZZZZZZZZZZZZ')).map(
    ([b, origin, key]): Req => ({
      listener: 'api',
      method: 'POST',
      path: '/v1/batch',
      headers: { 'content-type': 'text/plain', ...(origin ? { origin } : {}) },
      body: JSON.stringify(typeof b === 'object' && b !== null && !Array.isArray(b) ? { ...b, writeKey: key } : b) ?? 'null',
    }),
  );
  const query = fc.tuple(who, bodyOf(Query)).map(([w, b]) =>
    withBody({ listener: 'api', method: 'POST', path: '/v1/query', headers: credential(t, w, bearer(m.keys.query), basic(m.keys.ingest)) }, b),
  );
  const schema = fc.tuple(who, queryString({ from: TIME_STRINGS, to: TIME_STRINGS })).map(([w, q]): Req => ({ listener: 'api', method: 'GET', path: `/v1/query/schema${q}`, headers: credential(t, w, bearer(m.keys.query), basic(m.keys.ingest)) }));
  const auditQ = { since: TIME_STRINGS, until: TIME_STRINGS, after: CURSORS, limit: ['1', '100', '1000', '1001', '0', '-1', '1e3', 'NaN'] };
  const audit = fc.tuple(who, queryString(auditQ)).map(([w, q]): Req => ({ listener: 'api', method: 'GET', path: `/v1/audit${q}`, headers: credential(t, w, bearer(m.keys.query), basic(m.keys.ingest)) }));
  const grants = fc.tuple(who, fc.constantFrom('GET', 'POST', 'DELETE' as const), bodyOf(CreateGrant), segment()).map(([w, method, b, id]): Req => {
    const headers = credential(t, w, bearer(m.keys.query), basic(m.keys.ingest));
    if (method === 'GET') return { listener: 'api', method, path: '/v1/support-grants', headers };
    if (method === 'DELETE') return { listener: 'api', method, path: `/v1/support-grants/${enc(id)}`, headers };
    return withBody({ listener: 'api', method: 'POST', path: '/v1/support-grants', headers }, b);
  });
  // An export streams the whole tenant (thousands of rows by the end): one in four of these, the others list grants.
  const exportAll = fc.tuple(who, fc.nat(3)).map(([w, n]): Req => ({ listener: 'api', method: 'GET', path: n === 0 ? '/v1/export' : '/v1/support-grants', headers: credential(t, w, bearer(m.keys.query), basic(m.keys.ingest)) }));
  const misc = fc.tuple(fc.constantFrom<Req['method']>('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'), fc.constantFrom('/v1/nope', '/v1/', '/v1/query', '/v1/batch', '/healthz', '/readyz', '/sdk/palisade.js', '/sdk/palisade.mjs.sri', '/nope'), fc.constantFrom(ORIGIN, 'https://evil.example'), queryString({ writeKey: [m.keys.browser], x: [] })).map(
    ([method, route, origin, q]): Req => ({ listener: 'api', method, path: `${route}${q}`, headers: { origin } }),
  );

  // Admin listener. Destructive or slow routes only ever name a missing tenant or a hostile id.
  const adminGet = fc.tuple(who, tenantIds(t), fc.constantFrom('', '/stats', '/keys', '/settings', '/retention', '/support-grants'), queryString({})).map(
    ([w, id, sub, q]): Req => ({ listener: 'admin', method: 'GET', path: `/admin/tenants/${enc(id)}${sub}${q}`, headers: adminHeaders(t, w) }),
  );
  const adminAudit = fc.tuple(who, tenantIds(t), queryString({ ...auditQ, format: ['json', 'jsonl', 'csv'] })).map(
    ([w, id, q]): Req => ({ listener: 'admin', method: 'GET', path: `/admin/tenants/${enc(id)}/audit${q}`, headers: adminHeaders(t, w) }),
  );
  const adminTenants = fc.tuple(who, bodyOf(CreateTenant), fc.nat(20)).map(([w, b, n]): Req =>
    n === 0 ? withBody({ listener: 'admin', method: 'POST', path: '/admin/tenants', headers: adminHeaders(t, w) }, b) : { listener: 'admin', method: 'GET', path: '/admin/tenants', headers: adminHeaders(t, w) },
  );
  const adminPatch = fc.tuple(who, safeTenantIds(t), bodyOf(UpdateTenant)).map(([w, id, b]) => withBody({ listener: 'admin', method: 'PATCH', path: `/admin/tenants/${enc(id)}`, headers: adminHeaders(t, w) }, b));
  const adminSettings = fc.tuple(who, safeTenantIds(t), bodyOf(TenantSettingsPatch)).map(([w, id, b]) =>
    withBody({ listener: 'admin', method: 'PATCH', path: `/admin/tenants/${enc(id)}/settings`, headers: adminHeaders(t, w) }, b),
  );
  const adminKeys = fc.tuple(who, safeTenantIds(t), bodyOf(CreateKey), segment(), fc.boolean()).map(([w, id, b, keyId, create]): Req =>
    create
      ? withBody({ listener: 'admin', method: 'POST', path: `/admin/tenants/${enc(id)}/keys`, headers: adminHeaders(t, w) }, b)
      : { listener: 'admin', method: 'DELETE', path: `/admin/keys/${enc(keyId)}`, headers: adminHeaders(t, w) },
  );
  const adminRetention = fc.tuple(who, missingTenantIds(), bodyOf(RetentionBody)).map(([w, id, b]) =>
    withBody({ listener: 'admin', method: 'PUT', path: `/admin/tenants/${enc(id)}/retention`, headers: adminHeaders(t, w) }, b),
  );
  const adminUsers = fc.tuple(who, safeTenantIds(t), segment(), bodyOf(UserDeletionBody), fc.boolean(), fc.boolean()).map(([w, id, user, b, plan, withBodyToo]): Req => {
    const base = { listener: 'admin' as const, method: plan ? ('POST' as const) : ('DELETE' as const), path: `/admin/tenants/${enc(id)}/users/${enc(user)}${plan ? '/deletion-plan' : ''}`, headers: adminHeaders(t, w) };
    return withBodyToo ? withBody(base, b) : base;
  });
  const adminDeleteTenant = fc.tuple(who, missingTenantIds()).map(([w, id]): Req => ({ listener: 'admin', method: 'DELETE', path: `/admin/tenants/${enc(id)}`, headers: adminHeaders(t, w) }));
  const adminSupport = fc.tuple(who, tenantIds(t), bodyOf(Query), fc.nat(10)).map(([w, id, b, n]): Req =>
    n === 0
      ? { listener: 'admin', method: 'GET', path: `/admin/tenants/${enc(id)}/export`, headers: adminHeaders(t, w) }
      : withBody({ listener: 'admin', method: 'POST', path: `/admin/tenants/${enc(id)}/query`, headers: adminHeaders(t, w) }, b),
  );
  const adminMisc = fc.tuple(who, fc.constantFrom<Req['method']>('GET', 'GET', 'GET', 'POST', 'DELETE'), fc.constantFrom('/healthz', '/metrics', '/admin/doctor', '/admin/nope', '/admin/tenants/x/y/z', '/v1/track')).map(
    ([w, method, route]): Req => ({ listener: 'admin', method, path: route, headers: adminHeaders(t, w) }),
  );
  // Backups: a full backup or a restore is seconds of work, so bodies name a missing tenant and ids are made up.
  const adminBackups = fc.tuple(who, bodyOf(BackupBody), segment(), fc.constantFrom('list', 'create', 'get', 'verify', 'restore', 'migrations', 'verify-audit')).map(([w, b, id, op]): Req => {
    const headers = adminHeaders(t, w);
    const named = (() => {
      try {
        const o = JSON.parse(String(b.body)) as unknown;
        return typeof o === 'object' && o !== null && !Array.isArray(o) && Object.keys(o).length === 0 ? { ...b, body: JSON.stringify({ tenant: MISSING_TENANT }) } : b;
      } catch {
        return b;
      }
    })();
    switch (op) {
      case 'list':
        return { listener: 'admin', method: 'GET', path: `/admin/backups?tenant=${enc(id)}`, headers };
      case 'create':
        return withBody({ listener: 'admin', method: 'POST', path: '/admin/backups', headers }, named);
      case 'get':
        return { listener: 'admin', method: 'GET', path: `/admin/backups/${enc(id)}`, headers };
      case 'verify':
        return { listener: 'admin', method: 'POST', path: `/admin/backups/${enc(id)}/verify`, headers };
      case 'restore':
        return withBody({ listener: 'admin', method: 'POST', path: `/admin/backups/${enc(id)}/restore`, headers }, named);
      case 'migrations':
        return { listener: 'admin', method: 'GET', path: '/admin/migrations', headers };
      default:
        return { listener: 'admin', method: 'POST', path: '/admin/audit/verify', headers };
    }
  });

  return fc.oneof(
    { weight: 10, arbitrary: single },
    { weight: 10, arbitrary: batch },
    { weight: 4, arbitrary: beacon },
    { weight: 12, arbitrary: query },
    { weight: 3, arbitrary: schema },
    { weight: 6, arbitrary: audit },
    { weight: 4, arbitrary: grants },
    { weight: 1, arbitrary: exportAll },
    { weight: 3, arbitrary: misc },
    { weight: 3, arbitrary: adminGet },
    { weight: 3, arbitrary: adminAudit },
    { weight: 1, arbitrary: adminTenants },
    { weight: 1, arbitrary: adminPatch },
    { weight: 1, arbitrary: adminSettings },
    { weight: 1, arbitrary: adminKeys },
    { weight: 2, arbitrary: adminRetention },
    { weight: 3, arbitrary: adminUsers },
    { weight: 1, arbitrary: adminDeleteTenant },
    { weight: 2, arbitrary: adminSupport },
    { weight: 2, arbitrary: adminBackups },
    { weight: 1, arbitrary: adminMisc },
  );
}

/** User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ", in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** A failure report that names the seed and the failing request, without megabytes of generated body. */
function short(details: fc.RunDetails<[Req[]]>): void {
  if (!details.failed) return;
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(`property failed (seed ${details.seed}, path ${details.counterexamplePath}): ${cause.slice(0, 2_000)}`);
}

/** Sends `runs` generated requests to the target, eight at a time: no 5xx, a documented code on every refusal, no unhandled error, no request content in the log. */
async function surface(t: Target, runs: number, pid?: number): Promise<void> {
  const statuses = new Map<number, number>();
  timing.clear();
  const serverCpu0 = await cpuSeconds(pid);
  const ownCpu0 = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(requests(t), { minLength: PARALLEL, maxLength: PARALLEL }), async (reqs) => {
      const results = await Promise.all(
        reqs.map((r) => t.send(r).catch((err: unknown) => Promise.reject(new Error(`${r.method} ${r.path.slice(0, 200)} (${r.body?.length ?? 0} body bytes, headers ${JSON.stringify(r.headers).slice(0, 200)}): ${String(err)}`)))),
      );
      results.forEach((res, i) => {
        sent++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const req = reqs[i] as Req;
        const what = `${req.method} ${req.path.slice(0, 200)} → ${res.status} ${res.text.slice(0, 300)}`;
        // A 5xx names the node's own log lines for that request (metadata only: no request content reaches the log).
        const requestId = /"requestId":"([0-9a-f-]{36})"/.exec(res.text)?.[1];
        const logged = res.status >= 500 && requestId ? t.output.filter((l) => l.includes(requestId)).join('\n').slice(0, 2_000) : '';
        assert.ok(res.status < 500, logged ? `${what}\n${logged}` : what);
        if (res.status >= 400) assert.ok(CODES.has(codeOf(res) ?? ''), `a refusal without a documented code: ${what}`);
      });
    }),
    // PALISADE_FUZZ_SEED replays a failure's seed (the report names it).
    { numRuns: Math.ceil(runs / PARALLEL), endOnFailure: true, reporter: short, ...(process.env.PALISADE_FUZZ_SEED ? { seed: Number(process.env.PALISADE_FUZZ_SEED) } : {}) },
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = pid === undefined ? undefined : (await cpuSeconds(pid)) - serverCpu0;
  const own = process.cpuUsage(ownCpu0);
  // CPU seconds, not wall time, say what the run costs on a machine shared with other work.
  process.stdout.write(`# CPU: ${serverCpu === undefined ? '' : `server ${serverCpu.toFixed(1)} s, `}test process ${((own.user + own.system) / 1e6).toFixed(1)} s\n`);
  process.stdout.write(`# ${sent} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`);
  process.stdout.write(`# slowest: ${JSON.stringify([...timing].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12).map(([k, e]) => [k, e.n, Math.round(e.ms)]))}\n`);
  assert.ok(sent >= runs);
  assert.equal((await t.send({ listener: 'api', method: 'GET', path: '/healthz', headers: {} })).status, 200);
  const unhandled = t.output.filter((l) => l.includes('unhandled error'));
  assert.deepEqual(unhandled, [], 'no unhandled error was logged');
  // Nothing the requests carried reached the log: the canary strings of the hostile values.
  assert.ok(!t.output.some((l) => l.includes('ｊａｎｅ＠') || l.includes("' OR 1=1")), 'no request content in the log');
}

test(`the public HTTP surface in-process (app.request): ${IN_PROCESS} generated requests, no 5xx, every refusal with a documented code, no unhandled error`, async () => {
  await surface(inProcess, IN_PROCESS);
});

test(`the public HTTP surface over HTTPS against the spawned server: ${OVER_HTTPS} generated requests, no 5xx, every refusal with a documented code, no crash`, async () => {
  await surface(overHttps, OVER_HTTPS, p.proc.pid);
  assert.equal(p.proc.exitCode, null, 'the server is still running');
});
