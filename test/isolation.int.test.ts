/**
 * Isolation proof: tenant A's keys (ingest, browser, query) attack tenant B
 * through every route that takes a credential, in every way the API allows:
 * B's ids, filters, breakdowns, cursors from B's pages, property names
 * crafted as SQL or ClickHouse identifiers, unicode confusables, 10 KB names,
 * tenant fields in bodies, headers and query strings, oversized requests.
 * B's events carry a unique canary in event names, property keys and values,
 * ids, referrers and UTM tags; no response to A (body or headers) may contain
 * it. Responses never echo the request, so the canary can only come from B's
 * data. The suite counts its attempts and its leaks and prints both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { openDataDir } from './helpers/data-dir.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type HttpResult, type Palisade } from './helpers/palisade.ts';

const CANARY = `cnry${randomBytes(8).toString('hex')}`;
const ATTACK = `atk${randomBytes(6).toString('hex')}`;
const A_ORIGIN = 'https://a.example';
const B_ORIGIN = 'https://b.example';
const FROM = '-700d';

let p: Palisade;
let A: CreatedTenant;
let B: CreatedTenant;
const bCursors: string[] = [];
let bBaseline: { events: number; users: number; text: string };

const B_EVENTS = [
  { type: 'track', event: `Signed Up ${CANARY}`, userId: `user_${CANARY}`, messageId: `msg1_${CANARY}`, properties: { marker: CANARY, plan: CANARY, [`k_${CANARY}`]: 1, tenant_id: CANARY, nested: { deep: CANARY } } },
  { type: 'page', name: 'Home', userId: 'u1', messageId: 'shared-msg-2', properties: { path: `/${CANARY}`, referrer: `https://${CANARY}.example/x`, url: `https://b.example/?utm_source=${CANARY}` }, context: { campaign: { source: CANARY, medium: CANARY } } },
  { type: 'track', event: 'Purchased', userId: 'u1', messageId: `msg3_${CANARY}`, properties: { plan: 'pro', price: 1000, note: CANARY } },
  { type: 'identify', userId: `user_${CANARY}`, messageId: 'shared-msg-4', traits: { email: `${CANARY}@b.example` } },
  { type: 'track', event: 'Home', anonymousId: `anon_${CANARY}`, messageId: `msg5_${CANARY}` },
];
const B_IDS = B_EVENTS.map((e) => e.messageId);
/** B's message ids without the canary: A's writes reuse them (dedup must be per tenant). */
const SHARED_IDS = ['shared-msg-2', 'shared-msg-4'];
const B_USERS = [`user_${CANARY}`, `anon_${CANARY}`, 'u1'];
const B_NAMES = [`Signed Up ${CANARY}`, 'Purchased', 'Home'];

const CRAFTED = [
  '`tenant_id`', 'tenant_id', 'TENANT_ID', "') OR 1=1 --", "' OR '1'='1", '" OR ""="', "marker') OR 1=1 OR ('", ') OR 1=1 --',
  'tenаnt_id' /* Cyrillic а */, 'ｔｅｎａｎｔ＿ｉｄ' /* fullwidth */, 'tenant\u200bid', 'marker\u200b', 'ᵗᵉⁿᵃⁿᵗ_ⁱᵈ', 'téñant_id',
  '{tenant:String}', '{p0:String}', '{tenant:Identifier}', 'properties.marker', 'marker', 'plan', 'nested.deep', 'nested',
  '\\', "\\'", '%', '*', '/* */', 'x FORMAT TSV', 'SETTINGS readonly=0', "tenant_id' UNION ALL SELECT * FROM events --",
  '1); DROP TABLE events; --', 'x\ny', 'a\u0000b', 'n'.repeat(10 * 1024), '.marker', 'marker..x', ' marker',
];

async function ingest(t: CreatedTenant, batch: object[]): Promise<void> {
  const r = await p.api<{ success: boolean }>('POST', '/v1/batch', { body: { batch }, headers: basic(t.keys.ingest) });
  assert.equal(r.status, 200, r.text);
}

function q(t: CreatedTenant, body: unknown): Promise<HttpResult> {
  return p.api('POST', '/v1/query', { body, headers: basic(t.keys.query) });
}

async function bView(): Promise<{ events: number; users: number; text: string }> {
  const trend = await q(B, { kind: 'trend', from: FROM, interval: 'month' });
  const users = await q(B, { kind: 'trend', from: FROM, interval: 'month', measure: 'users' });
  const list = await q(B, { kind: 'events', from: FROM, limit: 200 });
  return { events: (trend.body as { total: number }).total, users: (users.body as { total: number }).total, text: list.text };
}

before(async () => {
  p = await startPalisade();
  [A, B] = await Promise.all([createTenant(p, 'attacker', [A_ORIGIN]), createTenant(p, 'victim', [B_ORIGIN])]);
  await ingest(B, B_EVENTS);
  // A refused event: B's warnings ledger gets a row whose message id carries the canary.
  await ingest(B, [{ type: 'track', event: 'x', userId: 'u', messageId: `bad_${CANARY}`, timestamp: 'yesterday' }]);
  await ingest(A, [
    { type: 'page', name: 'Home', userId: 'u1', properties: { path: '/', referrer: 'https://a-ref.example/' } },
    { type: 'track', event: 'Purchased', userId: 'u1', properties: { plan: 'pro', price: 5 } },
    { type: 'track', event: 'Signed Up', userId: 'u2', properties: { plan: 'free' } },
  ]);
  await waitFor(async () => (await bView()).events === 5 && (await q(A, { kind: 'trend', from: FROM, interval: 'month' })).text.includes('"total":3'), 10_000, 'both tenants to land');
  await waitFor(async () => (await q(B, { kind: 'warnings' })).text.includes(CANARY), 5_000, "B's warning");

  // Dead letters cannot be made through the API on purpose: write one per tenant into the stopped server's data.
  await p.stop();
  const wh = await openDataDir(p.dataDir);
  const at = new Date().toISOString().replace('T', ' ').replace('Z', '');
  const letters = [
    { tenant_id: B.tenant.id, at, message_id: `dead_${CANARY}`, reason: `rejected: ${CANARY}`, row: JSON.stringify({ event: CANARY }) },
    { tenant_id: A.tenant.id, at, message_id: 'dead_a', reason: 'guard_violation', row: '{}' },
  ];
  await wh.insertJson('dead_letters', Buffer.from(letters.map((l) => JSON.stringify(l)).join('\n')));
  await wh.close();
  p = await startPalisade({ dataDir: p.dataDir });

  // Positive control: B itself sees its canary everywhere A will look.
  for (const body of [
    { kind: 'events', from: FROM },
    { kind: 'trend', from: FROM, interval: 'month', breakdown: { field: 'event' } },
    { kind: 'top', from: FROM, by: { property: 'marker' } },
    { kind: 'top', from: FROM, by: { field: 'utm_source' } },
    { kind: 'warnings' },
    { kind: 'schema', from: FROM },
  ]) {
    const r = await q(B, body);
    assert.ok(r.text.includes(CANARY), `control: B should see its own canary via ${body.kind}`);
  }
  let cursor: string | null | undefined;
  for (let i = 0; i < 4; i++) {
    const page = (await q(B, { kind: 'events', from: FROM, limit: 1, ...(cursor ? { cursor } : {}) })).body as { nextCursor: string | null };
    if (!page.nextCursor) break;
    bCursors.push((cursor = page.nextCursor));
  }
  assert.ok(bCursors.length >= 3);
  bBaseline = await bView();
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

interface Attempt {
  what: string;
  run: () => Promise<{ status: number; headers: Record<string, unknown>; text: string }>;
}

function queryAttempts(): Attempt[] {
  const out: Attempt[] = [];
  const asA = (what: string, body: unknown, key = A.keys.query, extra: Record<string, string> = {}) =>
    out.push({ what, run: () => p.api('POST', '/v1/query', { body, headers: { ...basic(key), ...extra } }) });

  // Every kind, plainly.
  const plain = [
    { kind: 'trend', from: FROM },
    { kind: 'trend', from: FROM, measure: 'users', interval: 'month' },
    { kind: 'top', from: FROM, by: { field: 'event' } },
    { kind: 'funnel', from: FROM, steps: B_NAMES.map((event) => ({ event })) },
    { kind: 'events', from: FROM, limit: 200 },
    { kind: 'warnings', from: FROM, limit: 500 },
    { kind: 'schema', from: FROM },
  ];
  plain.forEach((b, i) => asA(`plain ${i}`, b));

  // B's ids, users and names as filters and selectors.
  for (const id of B_IDS) asA(`message id ${id}`, { kind: 'events', from: FROM, filters: [{ field: 'message_id', op: 'eq', value: id }] });
  asA('message ids in', { kind: 'events', from: FROM, filters: [{ field: 'message_id', op: 'in', value: B_IDS }] });
  for (const u of B_USERS) {
    for (const field of ['user', 'user_id', 'anonymous_id'] as const) asA(`user ${field} ${u}`, { kind: 'events', from: FROM, filters: [{ field, op: 'eq', value: u }] });
  }
  for (const name of B_NAMES) {
    asA(`event selector ${name}`, { kind: 'events', from: FROM, events: [name] });
    asA(`event filter ${name}`, { kind: 'trend', from: FROM, filters: [{ field: 'event', op: 'eq', value: name }], breakdown: { field: 'user' } });
  }
  asA('event contains canary', { kind: 'top', from: FROM, by: { field: 'event' }, filters: [{ field: 'event', op: 'contains', value: 'cnry' }] });
  asA('funnel over B names', { kind: 'funnel', from: FROM, steps: [{ event: B_NAMES[0] }, { event: 'Purchased' }], windowSeconds: 90 * 86_400 });

  // Breakdowns and top lists by every field and by B's property keys.
  const FIELDS = ['event', 'type', 'user', 'user_id', 'anonymous_id', 'message_id', 'page_path', 'page_url', 'page_title', 'referrer', 'referring_domain', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'];
  for (const field of FIELDS) {
    asA(`trend by ${field}`, { kind: 'trend', from: FROM, interval: 'month', breakdown: { field }, limit: 50 });
    asA(`top by ${field}`, { kind: 'top', from: FROM, by: { field }, limit: 100, measure: 'users' });
  }
  for (const property of ['marker', 'plan', 'note', `k_${CANARY}`, 'tenant_id', 'nested.deep', 'path', 'referrer', 'email']) {
    for (const source of ['properties', 'context', 'traits']) {
      asA(`top by ${source}.${property}`, { kind: 'top', from: FROM, by: { property, source }, limit: 100 });
    }
    asA(`trend by ${property}`, { kind: 'trend', from: FROM, breakdown: { property }, limit: 50 });
    asA(`filter set ${property}`, { kind: 'events', from: FROM, filters: [{ property, op: 'is_set' }] });
  }

  // Names crafted as SQL, identifiers, parameters, confusables, or 10 KB.
  for (const name of CRAFTED) {
    asA(`crafted top ${name.slice(0, 30)}`, { kind: 'top', from: FROM, by: { property: name } });
    asA(`crafted context ${name.slice(0, 30)}`, { kind: 'top', from: FROM, by: { property: name, source: 'context' } });
    asA(`crafted breakdown ${name.slice(0, 30)}`, { kind: 'trend', from: FROM, breakdown: { property: name } });
    asA(`crafted is_set ${name.slice(0, 30)}`, { kind: 'events', from: FROM, filters: [{ property: name, op: 'is_set' }] });
    asA(`crafted neq ${name.slice(0, 30)}`, { kind: 'events', from: FROM, filters: [{ property: name, op: 'neq', value: name }] });
    asA(`crafted value ${name.slice(0, 30)}`, { kind: 'events', from: FROM, filters: [{ field: 'event', op: 'eq', value: name }] });
    asA(`crafted contains ${name.slice(0, 30)}`, { kind: 'top', from: FROM, by: { field: 'user' }, filters: [{ field: 'user_id', op: 'not_contains', value: name }] });
    asA(`crafted in ${name.slice(0, 30)}`, { kind: 'trend', from: FROM, filters: [{ property: 'plan', op: 'not_in', value: [name, `${name}'`] }] });
    asA(`crafted event ${name.slice(0, 30)}`, { kind: 'events', from: FROM, events: [name] });
    asA(`crafted funnel ${name.slice(0, 30)}`, { kind: 'funnel', from: FROM, steps: [{ event: name }, { event: 'Purchased', filters: [{ property: name, op: 'is_not_set' }] }] });
  }

  // A tenant named in the body, in headers, in the query string.
  for (const [k, v] of [['tenant_id', B.tenant.id], ['tenantId', B.tenant.id], ['tenant', B.tenant.id], ['tenant_ids', [B.tenant.id]], ['__proto__', { tenant_id: B.tenant.id }], ['constructor', { tenant_id: B.tenant.id }]] as const) {
    asA(`body ${k}`, { kind: 'events', from: FROM, [k]: v });
  }
  asA('tenant in by', { kind: 'top', from: FROM, by: { field: 'event', tenant_id: B.tenant.id } });
  asA('tenant in filter', { kind: 'events', from: FROM, filters: [{ field: 'event', op: 'is_set', tenant_id: B.tenant.id }] });
  asA('tenant as field', { kind: 'top', from: FROM, by: { field: 'tenant_id' } });
  asA('tenant as filter field', { kind: 'events', from: FROM, filters: [{ field: 'tenant_id', op: 'eq', value: B.tenant.id }] });
  asA('tenant in step', { kind: 'funnel', from: FROM, steps: [{ event: 'Home', tenant_id: B.tenant.id }, { event: 'Purchased' }] });
  for (const h of ['x-tenant-id', 'x-palisade-tenant', 'x-palisade-tenant-id', 'tenant-id', 'x-scope-orgid', 'x-clickhouse-user', 'x-clickhouse-database']) {
    asA(`header ${h}`, { kind: 'events', from: FROM }, A.keys.query, { [h]: B.tenant.id });
  }
  asA('cookie tenant', { kind: 'events', from: FROM }, A.keys.query, { cookie: `tenant_id=${B.tenant.id}` });
  asA('forwarded host', { kind: 'events', from: FROM }, A.keys.query, { 'x-forwarded-host': 'b.example', forwarded: 'for=1.2.3.4;host=b.example' });
  for (const qs of [`tenant_id=${B.tenant.id}`, `tenant=${B.tenant.id}`, `tenantId=${B.tenant.id}&database=palisade`]) {
    out.push({ what: `query string ${qs}`, run: () => p.api('POST', `/v1/query?${qs}`, { body: { kind: 'events', from: FROM }, headers: basic(A.keys.query) }) });
    out.push({ what: `schema query string ${qs}`, run: () => p.api('GET', `/v1/query/schema?from=${FROM}&${qs}`, { headers: basic(A.keys.query) }) });
  }
  out.push({ what: 'schema', run: () => p.api('GET', `/v1/query/schema?from=${FROM}`, { headers: basic(A.keys.query) }) });
  out.push({ what: 'schema bad range', run: () => p.api('GET', `/v1/query/schema?from=${encodeURIComponent("now') OR 1=1 --")}`, { headers: basic(A.keys.query) }) });

  // Cursors from B's pages, as issued and re-wrapped with A's fingerprint.
  for (const c of bCursors) {
    asA('B cursor', { kind: 'events', from: FROM, cursor: c });
    const [ts, id] = JSON.parse(Buffer.from(c, 'base64url').toString()) as [string, string];
    asA('B position, forged', { kind: 'events', from: FROM, cursor: Buffer.from(JSON.stringify([ts, id, 'AAAAAAAA'])).toString('base64url') });
  }
  asA('cursor with SQL', { kind: 'events', from: FROM, cursor: Buffer.from(JSON.stringify(["2026-01-01 00:00:00.000') OR 1=1 --", 'x', 'y'])).toString('base64url') });

  // Enums and times with SQL in them, oversized shapes.
  asA('kind injection', { kind: "trend' OR 1=1 --" });
  asA('interval injection', { kind: 'trend', interval: 'day)) OR ((1' });
  asA('source injection', { kind: 'top', by: { property: 'x', source: 'properties) OR 1=1 --' } });
  asA('timezone injection', { kind: 'trend', timezone: "UTC') OR 1=1 --" });
  asA('from injection', { kind: 'trend', from: "now') OR 1=1 --" });
  asA('measure injection', { kind: 'trend', measure: 'count(*) FROM events --' });
  asA('limit injection', { kind: 'top', by: { field: 'event' }, limit: '1 UNION ALL' });
  asA('huge event name', { kind: 'events', events: ['e'.repeat(300)] });
  asA('too many filters', { kind: 'events', filters: Array.from({ length: 1000 }, () => ({ field: 'event', op: 'is_set' })) });
  asA('too many steps', { kind: 'funnel', steps: Array.from({ length: 100 }, (_, i) => ({ event: `e${i}` })) });
  asA('huge in list', { kind: 'events', filters: [{ field: 'user', op: 'in', value: Array.from({ length: 5000 }, (_, i) => `u${i}`) }] });
  out.push({ what: 'oversized body', run: () => p.api('POST', '/v1/query', { body: { kind: 'events', pad: 'x'.repeat(200_000) }, headers: basic(A.keys.query) }) });

  // The wrong key kinds on the query routes, and a foreign origin.
  for (const body of plain) {
    asA('ingest key', body, A.keys.ingest);
    out.push({ what: 'browser key', run: () => p.api('POST', '/v1/query', { body, headers: { authorization: `Bearer ${A.keys.browser}`, origin: A_ORIGIN } }) });
    out.push({ what: 'browser key as writeKey', run: () => p.api('POST', '/v1/query', { body: { ...body, writeKey: A.keys.browser }, headers: { origin: A_ORIGIN } }) });
  }
  out.push({ what: 'schema ingest key', run: () => p.api('GET', '/v1/query/schema', { headers: basic(A.keys.ingest) }) });
  out.push({ what: 'schema browser key', run: () => p.api('GET', '/v1/query/schema', { headers: { authorization: `Bearer ${A.keys.browser}` } }) });
  asA('B origin', { kind: 'events', from: FROM }, A.keys.query, { origin: B_ORIGIN });
  return out;
}

function ingestAttempts(): Attempt[] {
  const out: Attempt[] = [];
  const claims = { tenant_id: B.tenant.id, tenantId: B.tenant.id };
  const event = (i: number) => ({ event: `Attack ${ATTACK}`, userId: 'u1', properties: { marker: ATTACK, ...claims }, context: { ...claims, marker: ATTACK }, messageId: SHARED_IDS[i % SHARED_IDS.length] });
  const routes: [string, object][] = [
    ['/v1/track', { ...event(0) }],
    ['/v1/track', { ...event(1), ...claims }],
    ['/v1/page', { name: `Page ${ATTACK}`, userId: 'u1', messageId: SHARED_IDS[0], properties: { path: `/${ATTACK}` }, ...claims }],
    ['/v1/identify', { userId: 'u1', traits: { email: ATTACK, ...claims }, messageId: SHARED_IDS[1] }],
    ['/v1/group', { userId: 'u1', groupId: B.tenant.id, traits: claims }],
    ['/v1/alias', { userId: 'u1', previousId: 'u2' }],
    ['/v1/screen', { name: ATTACK, userId: 'u1', ...claims }],
    ['/v1/batch', { batch: SHARED_IDS.map((_, i) => ({ type: 'track', ...event(i) })), context: claims, ...claims }],
  ];
  for (const [route, body] of routes) {
    out.push({ what: `ingest ${route}`, run: () => p.api('POST', route, { body, headers: basic(A.keys.ingest) }) });
    out.push({ what: `ingest ${route} header`, run: () => p.api('POST', route, { body, headers: { ...basic(A.keys.ingest), 'x-tenant-id': B.tenant.id } }) });
    out.push({ what: `browser ${route}`, run: () => p.api('POST', route, { body: { ...body, writeKey: A.keys.browser }, headers: { origin: A_ORIGIN } }) });
    out.push({ what: `browser ${route} from B's origin`, run: () => p.api('POST', route, { body: { ...body, writeKey: A.keys.browser }, headers: { origin: B_ORIGIN } }) });
    out.push({ what: `query key ${route}`, run: () => p.api('POST', route, { body, headers: basic(A.keys.query) }) });
    out.push({ what: `ingest ${route}?tenant_id`, run: () => p.api('POST', `${route}?tenant_id=${B.tenant.id}`, { body, headers: basic(A.keys.ingest) }) });
  }
  return out;
}

async function adminAs(token: string, method: string, route: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const ca = await readFile(`${p.dataDir}/tls/self-signed.crt`, 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(`https://localhost:${p.adminPort}${route}`, { method: method as 'GET', headers: { authorization: `Bearer ${token}` }, dispatcher });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

function adminAttempts(): Attempt[] {
  const out: Attempt[] = [];
  const routes = [`/admin/tenants/${B.tenant.id}`, `/admin/tenants/${B.tenant.id}/stats`, `/admin/tenants/${B.tenant.id}/keys`, '/admin/tenants'];
  for (const key of [A.keys.ingest, A.keys.query, A.keys.browser]) {
    for (const route of routes) {
      out.push({ what: `admin ${route}`, run: () => adminAs(key, 'GET', route) });
      out.push({ what: `admin on api ${route}`, run: () => p.api('GET', route, { headers: basic(key) }) });
    }
  }
  return out;
}

test('tenant A cannot read, write or name tenant B through any credentialed route', async () => {
  const attempts = [...queryAttempts(), ...ingestAttempts(), ...adminAttempts()];
  let leaks = 0;
  let refused = 0;
  let answered = 0;
  const leaked: string[] = [];
  const errors: string[] = [];
  for (const a of attempts) {
    const r = await a.run();
    const seen = `${r.text}\n${JSON.stringify(r.headers)}`;
    if (seen.includes(CANARY)) {
      leaks++;
      leaked.push(`${a.what}: ${r.text.slice(0, 300)}`);
    }
    if (r.status >= 500) errors.push(`${a.what}: ${r.status} ${r.text.slice(0, 200)}`);
    else if (r.status >= 400) refused++;
    else answered++;
  }
  const after = await bView();
  process.stdout.write(
    `\nisolation: ${attempts.length} attempts by tenant A's keys against tenant B; ${leaks} leaked; ${refused} refused (4xx), ${answered} answered with A's own data, ${errors.length} server errors\n`,
  );
  assert.deepEqual(leaked, [], 'responses to A contained B\'s canary');
  assert.deepEqual(errors, [], 'no attempt may cause a server error');
  assert.ok(attempts.length >= 500, `only ${attempts.length} attempts`);
  assert.ok(refused > 100 && answered > 100, 'both refusals and answers were exercised');

  // Nothing A sent landed in B: B's data is what B sent, and A's attack marker is not in it.
  assert.equal(after.events, bBaseline.events);
  assert.equal(after.users, bBaseline.users);
  assert.ok(!after.text.includes(ATTACK), "A's writes landed in B's data");
  // A's writes that were accepted landed in A, under A's tenant, even when they reused B's message ids.
  const own = await waitFor(async () => {
    const r = await q(A, { kind: 'events', from: FROM, filters: [{ field: 'event', op: 'eq', value: `Attack ${ATTACK}` }] });
    return (r.body as { events: unknown[] }).events.length > 0 && r;
  }, 5_000, "A's own attack events");
  assert.ok(own.text.includes(ATTACK) && !own.text.includes(CANARY));
});
