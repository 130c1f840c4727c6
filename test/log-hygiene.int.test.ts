/**
 * No customer data and no secret in technical logs (a promise of docs/architecture.md): a
 * full scenario runs with canary values in every place a client or operator
 * can put data (event fields, properties, traits, context, ids, rejected
 * events, credentials that fail, admin calls, tenant settings, queries,
 * plain-HTTP calls, throttled floods), every line the server writes to
 * stdout and stderr is captured, and none may contain a canary, a key's
 * secret, or any value from the service secrets file.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { newSecretToken } from '../src/auth/tokens.ts';
import { from, plainRequest } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const CANARY = 'cnry7f3a';
const canary = (where: string) => `${CANARY}-${where}`;

let p: Palisade;
let t: CreatedTenant;
let httpPort: number;

before(async () => {
  // Debug level: every line the server can write is checked, the access line of each successful call included.
  p = await startPalisade({ env: { PALISADE_HTTP_PORT: '0', PALISADE_AUTH_FAIL_IP_MAX: '5', PALISADE_AUTH_FAIL_TARPIT_MS: '50', PALISADE_LOG_LEVEL: 'debug' } });
  httpPort = (JSON.parse(p.output.find((l) => l.includes('palisade listening')) ?? '{}') as { httpPort: number }).httpPort;
  t = await createTenant(p, canary('tenant-name'), ['https://shop.example']);
});

after(async () => {
  if (p && p.proc.exitCode === null && p.proc.signalCode === null) await p.kill();
  if (p) await removeDir(p.dataDir);
});

test('a full scenario leaves no canary, key secret or service secret in any log line', { timeout: 120_000 }, async () => {
  const h = basic(t.keys.ingest);
  const secretPart = t.keys.ingest.slice(24);
  // 1. Ingestion, accepted: canaries in every field.
  const full = {
    event: canary('event'), userId: canary('user'), anonymousId: canary('anon'), messageId: canary('msgid'),
    properties: { email: `${CANARY}@example.com`, [canary('propkey')]: canary('propval'), nested: { deep: [canary('arr')] } },
    context: { page: { url: `https://shop.example/?q=${canary('url')}` }, userAgent: canary('ua'), ip: '198.51.100.1', consent: { categoryPreferences: { Analytics: true } } },
  };
  assert.equal((await p.api('POST', '/v1/track', { body: full, headers: { ...h, 'user-agent': canary('header-ua'), referer: canary('referer') } })).status, 200);
  assert.equal((await p.api('POST', '/v1/identify', { body: { userId: canary('identify'), traits: { name: canary('trait') } }, headers: h })).status, 200);
  assert.equal((await p.api('POST', '/v1/batch', { body: { context: { app: canary('batchctx') }, batch: [{ type: 'page', name: canary('page'), anonymousId: 'a' }] }, headers: h })).status, 200);
  // 2. Rejections: bad events carrying canaries (field names too), bodies that do not parse.
  const rejects = await p.api<{ rejected: unknown[] }>('POST', '/v1/batch', {
    body: { batch: [{ type: 'track', event: canary('bad-ts'), userId: 'u', timestamp: canary('ts') }, { type: 'track', event: 'E', userId: 'u', [canary('unknownfield')]: 1 }, { type: canary('type') }, { type: 'track', event: 'E', userId: 'u', properties: JSON.parse(`{"__proto__":"${canary('proto')}"}`) as object }] },
    headers: h,
  });
  assert.equal(rejects.status, 200);
  assert.equal(rejects.body.rejected.length, 4);
  await p.api('POST', '/v1/track', { raw: `{"event":"${canary('broken-json')}"`, headers: { ...h, 'content-type': 'application/json' } });
  await p.api('POST', `/v1/${canary('route')}`, { body: {}, headers: h });
  await p.api('POST', `/v1/track?q=${canary('query-string')}`, { body: full, headers: h });
  // 3. Authentication failures: a canary secret with a valid checksum, garbage, a wrong admin token, a key in the URL.
  const forged = newSecretToken(t.keys.ingest.slice(7, 23)).token;
  await p.api('POST', '/v1/track', { body: full, headers: basic(forged) });
  await p.api('POST', '/v1/track', { body: full, headers: { authorization: `Bearer ${canary('bearer')}` } });
  await p.api('POST', '/v1/track', { body: { ...full, writeKey: canary('writekey') } });
  await p.api('POST', `/v1/track?writeKey=${t.keys.browser}&x=${canary('urlkey')}`, { body: full });
  const attacker = await from(p, '127.0.0.77');
  for (let i = 0; i < 8; i++) await attacker.call('POST', '/v1/track', { body: full, headers: { authorization: `Basic ${Buffer.from(`${canary('basic')}:${canary('pw')}`).toString('base64')}` } });
  await attacker.close();
  const wrongAdmin = await fetchAdmin(`Bearer ${canary('admintoken')}`);
  assert.equal(wrongAdmin, 401);
  // 4. Admin calls with canaries: settings, a tenant rename, a key, a bad body.
  assert.equal((await p.admin('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { piiDrop: [`properties.${canary('path')}`], piiHash: ['properties.email'], scrubPii: true })).status, 200);
  assert.equal((await p.admin('PATCH', `/admin/tenants/${t.tenant.id}`, { name: canary('rename') })).status, 200);
  await p.admin('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { ipPolicy: canary('badpolicy') });
  await p.admin('POST', '/admin/tenants', { name: canary('second'), allowedOrigins: [canary('origin')] });
  const key = await p.admin<{ token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
  assert.equal(key.status, 201);
  // 5. After the PII rules: more data, the CLI.
  assert.equal((await p.api('POST', '/v1/track', { body: full, headers: basic(key.body.token) })).status, 200);
  const cli = await p.cli(['tenant', 'settings', t.tenant.id, '--pii-drop', `traits.${canary('cli')}`]);
  assert.equal(cli.code, 0, cli.stderr);
  // 6. Queries with canaries in names and values.
  await waitFor(async () => (await p.admin<{ events: number }>('GET', `/admin/tenants/${t.tenant.id}/stats`)).body.events >= 3, 10_000, 'events');
  const q = basic(t.keys.query);
  assert.equal((await p.api('POST', '/v1/query', { body: { kind: 'events', from: '-1d', events: [canary('event')], filters: [{ property: canary('propkey'), op: 'eq', value: canary('propval') }] }, headers: q })).status, 200);
  await p.api('POST', '/v1/query', { body: { kind: 'trend', from: canary('from'), breakdown: { property: canary('dim') } }, headers: q });
  await p.api('GET', `/v1/query/schema?from=-1d&x=${canary('schema')}`, { headers: q });
  // 7. Plain HTTP: a real key (reported exposed: by id, never by value) and a canary one.
  await plainRequest(httpPort, 'POST', '/v1/track', { headers: { ...basic(key.body.token), 'content-type': 'application/json' }, body: JSON.stringify(full) });
  await plainRequest(httpPort, 'POST', `/v1/track?token=${canary('plain-url')}`, { headers: { authorization: `Bearer ${canary('plain')}` }, body: JSON.stringify(full) });
  await plainRequest(httpPort, 'GET', '/dashboard', { headers: { host: 'localhost' } });

  await p.stop();
  const secrets = JSON.parse(await readFile(path.join(p.dataDir, 'secrets.json'), 'utf8')) as { adminToken: string; diskKeyHex: string; spoolKeys: Record<string, string> };
  const forbidden = [CANARY, secretPart, key.body.token.slice(24), forged.slice(24), secrets.adminToken, secrets.diskKeyHex, ...Object.values(secrets.spoolKeys), '@example.com'];
  const all = p.output.filter((l) => l.trim() !== '');
  // Log lines are pino's JSON. The only other output is the first-start banner, which shows the
  // admin token once on the operator's terminal by design (src/cli/main.ts) and nothing else.
  const lines = all.filter((l) => l.startsWith('{'));
  const banner = all.filter((l) => !l.startsWith('{'));
  const tokenLine = banner.findIndex((l) => l.trim() === secrets.adminToken);
  assert.ok(tokenLine > 0 && /Admin token \(shown once/.test(banner[tokenLine - 1] ?? ''), banner.join('\n'));
  assert.ok(banner.length <= 8, banner.join('\n'));
  const leaks = [...lines, ...banner.filter((_, i) => i !== tokenLine)].filter((l) => forbidden.some((f) => l.includes(f)));
  process.stdout.write(`\n  log hygiene: ${lines.length} log lines checked against ${forbidden.length} canaries and secrets; ${leaks.length} leaks\n`);
  assert.deepEqual(leaks, []);
  assert.ok(lines.length > 40, 'the scenario produced log lines to check');
  assert.ok(lines.some((l) => l.includes('secret key sent over plain HTTP')), 'the exposure was logged (by key id)');
  assert.ok(lines.some((l) => l.includes('failed-auth cool-down started')));
});

async function fetchAdmin(authorization: string): Promise<number> {
  const { Agent, request } = await import('undici');
  const ca = await readFile(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  const res = await request(`https://127.0.0.1:${p.adminPort}/admin/tenants`, { headers: { authorization }, dispatcher });
  await res.body.dump();
  await dispatcher.close();
  return res.statusCode;
}
