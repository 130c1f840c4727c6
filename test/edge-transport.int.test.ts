/**
 * Transport and personal data, against a real server:
 *   - TLS per Mozilla's intermediate profile: TLS 1.0/1.1 and a CBC suite are
 *     refused (and a permissive control server shows the client really
 *     offered them), TLS 1.2 ECDHE-GCM and TLS 1.3 are accepted;
 *   - HSTS on every HTTPS response;
 *   - the plain-HTTP listener never serves the API: a credential there is
 *     refused, the key reported exposed (and revoked if the tenant opted in);
 *     the dashboard page redirects; X-Forwarded-Proto counts only from a
 *     trusted proxy;
 *   - the tenant's PII rules, set with the CLI, applied to what is stored.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { newSecretToken } from '../src/auth/tokens.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { caOf, from, handshake, metric, plainRequest } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let t: CreatedTenant;
let httpPort: number;
const ORIGIN = 'https://shop.example';
const event = { event: 'Signed Up', userId: 'u1' };

before(async () => {
  p = await startPalisade({ env: { PALISADE_HTTP_PORT: '0', PALISADE_TRUSTED_PROXIES: '127.0.0.50', PALISADE_KEY_REFRESH_MS: '500' } });
  const line = p.output.find((l) => l.includes('palisade listening')) ?? '{}';
  httpPort = (JSON.parse(line) as { httpPort: number }).httpPort;
  t = await createTenant(p, 'acme', [ORIGIN]);
});

after(async () => {
  if (p && p.proc.exitCode === null && p.proc.signalCode === null) await p.kill();
  if (p) await removeDir(p.dataDir);
});

describe('TLS: Mozilla intermediate', () => {
  let control: tls.Server;
  let ca: string;
  before(async () => {
    ca = await caOf(p);
    const key = await readFile(path.join(p.dataDir, 'tls', 'self-signed.key'), 'utf8');
    // Accepts anything: proof that the client below really offers what Palisade refuses.
    control = tls.createServer({ cert: ca, key, minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => control.close(() => r())));

  const cases: [string, tls.ConnectionOptions, boolean][] = [
    ['TLS 1.0', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }, false],
    ['TLS 1.1', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'ALL:@SECLEVEL=0' }, false],
    ['TLS 1.2 with a CBC suite (ECDHE-ECDSA-AES128-SHA256)', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' }, false],
    ['TLS 1.2 with a CBC suite (ECDHE-ECDSA-AES256-SHA)', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0' }, false],
    ['TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, true],
    ['TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }, true],
    ['TLS 1.3', { minVersion: 'TLSv1.3' }, true],
  ];
  for (const [name, client, accepted] of cases) {
    test(`${name}: ${accepted ? 'accepted' : 'refused'} (on the API and the admin listener)`, async () => {
      const viaControl = await handshake((control.address() as { port: number }).port, { ca, ...client });
      assert.equal(viaControl.ok, true, `the client must be able to speak ${name}: ${JSON.stringify(viaControl)}`);
      for (const port of [p.apiPort, p.adminPort]) {
        const h = await handshake(port, { ca, ...client });
        assert.equal(h.ok, accepted, JSON.stringify(h));
        if (accepted) assert.match(String(h.cipher), /GCM|CHACHA20/);
      }
    });
  }
});

describe('HSTS', () => {
  test('every HTTPS response carries Strict-Transport-Security: success, errors, refusals, the dashboard, preflights', async () => {
    const responses = [
      await p.api('GET', '/healthz'),
      await p.api('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) }),
      await p.api('POST', '/v1/track', { body: event }),
      await p.api('POST', '/v1/track', { raw: '{', headers: { ...basic(t.keys.ingest), 'content-type': 'application/json' } }),
      await p.api('GET', '/nope'),
      await p.api('GET', '/dashboard'),
      await p.api('OPTIONS', '/v1/batch', { headers: { origin: 'https://evil.example' } }),
      await p.api('POST', '/v1/query', { body: {}, headers: basic(t.keys.query) }),
      await p.admin('GET', '/admin/tenants'),
    ];
    for (const r of responses) assert.match(String(r.headers['strict-transport-security']), /^max-age=63072000; includeSubDomains$/, `status ${r.status}`);
  });
});

describe('plain HTTP', () => {
  test('a request with a valid secret key is refused 403 with an explanation, the key is reported exposed, and (by default) kept', async () => {
    const r = await plainRequest(httpPort, 'POST', '/v1/track', { headers: { ...basic(t.keys.ingest), 'content-type': 'application/json' }, body: JSON.stringify(event) });
    assert.equal(r.status, 403);
    const err = (r.body as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'insecure_transport');
    assert.match(err.message, /plain HTTP.*exposed/);
    assert.equal(r.headers.location, undefined, 'never a redirect for an API call');
    assert.equal(await metric(p, 'palisade_keys_exposed_total', 'channel="plain_http"'), 1);
    const keyId = t.keys.ingest.slice(7, 23);
    const audit = await waitFor(async () => {
      const a = await p.admin<{ entries: { action: string; target: string; details: Record<string, unknown> }[] }>('GET', `/admin/tenants/${t.tenant.id}/audit?since=1h`);
      return a.body.entries.find((e) => e.action === 'key.exposed') ?? false;
    }, 10_000, 'key.exposed in the audit log');
    assert.equal(audit.target, keyId);
    assert.deepEqual(audit.details, { channel: 'plain_http', revoked: false });
    assert.equal((await p.api('POST', '/v1/track', { body: event, headers: basic(t.keys.ingest) })).status, 200);
  });

  test('a forged token for a real key id proves nothing: refused, not counted, not revoked', async () => {
    const forged = newSecretToken(t.keys.ingest.slice(7, 23)).token;
    const r = await plainRequest(httpPort, 'POST', '/v1/track', { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(r.status, 403);
    assert.equal(await metric(p, 'palisade_keys_exposed_total', 'channel="plain_http"'), 1);
  });

  test('with revokeOnPlainHttp (set with the CLI), a secret key in the body or the URL is revoked at once', async () => {
    const cli = await p.cli(['tenant', 'settings', t.tenant.id, '--revoke-on-plain-http', 'on', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { settings: { revokeOnPlainHttp: boolean } }).settings.revokeOnPlainHttp, true);
    const created = await p.admin<{ token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
    assert.equal((await p.api('POST', '/v1/track', { body: event, headers: basic(created.body.token) })).status, 200);
    const r = await plainRequest(httpPort, 'POST', '/v1/batch', { headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: created.body.token, batch: [event] }) });
    assert.equal(r.status, 403);
    const refused = await p.api('POST', '/v1/track', { body: event, headers: basic(created.body.token) });
    assert.equal(refused.status, 401, refused.text);
    assert.equal((refused.body as { error: { code: string } }).error.code, 'revoked_credential');
    const other = await p.admin<{ token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
    assert.equal((await plainRequest(httpPort, 'GET', `/v1/anything?token=${encodeURIComponent(other.body.token)}`)).status, 403);
    assert.equal((await p.api('POST', '/v1/track', { body: event, headers: basic(other.body.token) })).status, 401);
    assert.equal(await metric(p, 'palisade_keys_auto_revoked_total'), 2);
    await p.cli(['tenant', 'settings', t.tenant.id, '--revoke-on-plain-http', 'off']);
  });

  test('GET /dashboard redirects to HTTPS; any other request without a credential is a 403, not a redirect', async () => {
    const r = await plainRequest(httpPort, 'GET', '/dashboard', { headers: { host: 'localhost:1234' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://localhost:${p.apiPort}/dashboard`);
    // A Host that is not a plain name never builds a redirect (Node's parser or ours refuses it).
    for (const host of ['evil.example/x?', 'bad_host.example', 'a@b']) {
      const evil = await plainRequest(httpPort, 'GET', '/dashboard', { headers: { host } });
      assert.ok(evil.status === 400 || evil.status === 403, `${host}: ${evil.status}`);
      assert.equal(evil.headers.location, undefined);
    }
    for (const [method, route] of [['POST', '/v1/track'], ['GET', '/healthz'], ['GET', '/v1/query/schema']]) {
      const x = await plainRequest(httpPort, method as string, route as string);
      assert.equal(x.status, 403, `${method} ${route}`);
      assert.equal((x.body as { error: { code: string } }).error.code, 'insecure_transport');
    }
  });

  test('X-Forwarded-Proto: http from a trusted proxy is refused like plain HTTP; from anyone else it is ignored', async () => {
    const proxy = await from(p, '127.0.0.50');
    const stranger = await from(p, '127.0.0.51');
    try {
      const r = await proxy.call('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.ingest), 'x-forwarded-proto': 'http', 'x-forwarded-for': '198.51.100.7' } });
      assert.equal(r.status, 403, r.text);
      assert.equal((r.body as { error: { code: string } }).error.code, 'insecure_transport');
      assert.equal((await proxy.call('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.ingest), 'x-forwarded-proto': 'https' } })).status, 200);
      assert.equal((await stranger.call('POST', '/v1/track', { body: event, headers: { ...basic(t.keys.ingest), 'x-forwarded-proto': 'http' } })).status, 200);
      assert.equal(await metric(p, 'palisade_keys_exposed_total', 'channel="forwarded_http"'), 1);
    } finally {
      await proxy.close();
      await stranger.close();
    }
  });
});

describe('personal data', () => {
  test('PII rules set with the CLI are applied to what is stored; bots are flagged; consent and DNT are honoured', async () => {
    const pii = await createTenant(p, 'privacy', [ORIGIN]);
    const cli = await p.cli([
      'tenant', 'settings', pii.tenant.id,
      '--pii-hash', 'properties.email', 'traits.email',
      '--pii-drop', 'traits.ssn', 'properties.address',
      '--scrub-pii', 'on', '--dnt-policy', 'honour', '--json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const shown = await p.cli(['tenant', 'settings', pii.tenant.id]);
    assert.match(shown.stdout, /piiHash: properties.email, traits.email/);
    await waitFor(async () => (await p.admin<{ settings: { dntPolicy: string } }>('GET', `/admin/tenants/${pii.tenant.id}/settings`)).body.settings.dntPolicy === 'honour', 2_000, 'settings');
    const h = basic(pii.keys.ingest);
    const googlebot = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
    const batch = [
      { type: 'track', event: 'Kept', userId: 'u1', messageId: 'kept', properties: { email: 'Jane@Example.com', note: 'call +44 20 7946 0958, card 4111 1111 1111 1111', address: { street: '1 Main St' } }, context: { ip: '198.51.100.23' } },
      { type: 'identify', userId: 'u1', messageId: 'ident', traits: { email: 'Jane@Example.com', ssn: '078-05-1120', name: 'Jane' } },
      { type: 'track', event: 'No consent', userId: 'u2', messageId: 'consent', context: { consent: { categoryPreferences: { Analytics: false } } } },
      { type: 'track', event: 'Bot', userId: 'u3', messageId: 'bot', context: { userAgent: googlebot } },
    ];
    const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: h });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { success: true }, 'a policy drop is not an error');
    const dnt = await p.api('POST', '/v1/track', { body: { ...event, messageId: 'dnt' }, headers: { ...h, dnt: '1' } });
    assert.equal(dnt.status, 200);
    const browserBot = await p.api('POST', '/v1/page', { body: { anonymousId: 'a1', messageId: 'browser-bot' }, headers: { ...basic(pii.keys.browser), origin: ORIGIN, 'user-agent': googlebot } });
    assert.equal(browserBot.status, 200, browserBot.text);
    await waitFor(async () => (await p.admin<{ events: number }>('GET', `/admin/tenants/${pii.tenant.id}/stats`)).body.events >= 4, 10_000, 'events to land');
    assert.equal(await metric(p, 'palisade_events_dropped_by_policy_total', 'reason="consent"'), 1);
    assert.equal(await metric(p, 'palisade_events_dropped_by_policy_total', 'reason="dnt"'), 1);

    await p.stop();
    const wh = await openDataDir(p.dataDir);
    try {
      const rows = await wh.query<{ message_id: string; ip: string; is_bot: number; properties: string; traits: string; context: string }>(
        "SELECT message_id, ip, is_bot, toJSONString(properties) AS properties, toJSONString(traits) AS traits, toJSONString(context) AS context FROM events WHERE tenant_id = {t:String} ORDER BY message_id",
        { params: { t: pii.tenant.id } },
      );
      const by = Object.fromEntries(rows.map((x) => [x.message_id, x]));
      assert.deepEqual(Object.keys(by).sort(), ['bot', 'browser-bot', 'ident', 'kept']);
      const kept = by.kept!;
      const props = JSON.parse(kept.properties) as Record<string, unknown>;
      assert.match(String(props.email), /^[0-9a-f]{64}$/);
      assert.equal(props.note, 'call [phone], card [card]');
      assert.equal(props.address, undefined);
      assert.equal(kept.ip, '127.0.0.0');
      assert.equal((JSON.parse(kept.context) as { ip: string }).ip, '198.51.100.0');
      const traits = JSON.parse(by.ident!.traits) as Record<string, unknown>;
      assert.equal(traits.ssn, undefined);
      assert.equal(traits.name, 'Jane');
      assert.match(String(traits.email), /^[0-9a-f]{64}$/);
      assert.equal(traits.email, props.email, "one tenant key: the same e-mail hashes the same in traits and properties, so they still join");
      assert.equal(Number(by.bot!.is_bot), 1);
      assert.equal(Number(by['browser-bot']!.is_bot), 1);
      assert.equal(Number(kept.is_bot), 0);
      for (const x of rows) assert.ok(!JSON.stringify(x).includes('Jane@Example.com') && !JSON.stringify(x).includes('078-05-1120'));
    } finally {
      await wh.close();
    }
  });
});
