/**
 * The snippet in a real headless Chromium against a real Palisade: the README
 * snippet on an allowed origin (https://localhost:PORT, the Palisade host on
 * another port) and the ES module on an allowed cross-site origin
 * (http://127.0.0.1:PORT); offline periods, reloads, closing tabs, several
 * tabs, consent, server refusals and retries. What landed is counted through
 * the admin stats while the server runs and read back from ClickHouse at the
 * end.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { launchChromium } from '../../test/helpers/chromium.ts';
import { openDataDir } from '../../test/helpers/data-dir.ts';
import { createTenant, removeDir, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from '../../test/helpers/palisade.ts';
import { README, README_SRI_RE } from './build.ts';
import { classicPage, modulePage, startProxy, startSite, type Proxy, type Site } from './test-site.ts';

let p: Palisade;
let browser: Browser;
let site: Site;
let foreign: Site;
let evil: Site;
let host: string;
/** Palisade behind a cuttable proxy, for outages that must stop beacons too. */
let proxy: Proxy;
let proxied: string;
const fast = { flushInterval: 300 };
const checks: { tenant: CreatedTenant; check: (rows: Row[]) => void }[] = [];

interface Row {
  type: string;
  event: string;
  user_id: string;
  anonymous_id: string;
  group_id: string;
  previous_id: string;
  message_id: string;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: { page?: Record<string, string>; campaign?: Record<string, string>; library?: { name: string } };
  /** The browser's own clock (original_timestamp), ms. */
  ts: number;
}

before(async () => {
  p = await startPalisade();
  host = `https://localhost:${p.apiPort}`;
  proxy = await startProxy(p.apiPort);
  proxied = `https://localhost:${proxy.port}`;
  [browser, site, foreign, evil] = await Promise.all([
    launchChromium(),
    startSite({ host: 'localhost', tlsDir: path.join(p.dataDir, 'tls') }),
    startSite({ host: '127.0.0.1' }),
    startSite({ host: '127.0.0.1' }),
  ]);
});

after(async () => {
  await browser?.close();
  await Promise.all([site?.close(), foreign?.close(), evil?.close(), proxy?.close()]);
  if (p.proc.exitCode === null) await p.kill();
  await removeDir(p.dataDir);
});

async function tenant(name: string, origins = [site.origin, foreign.origin]): Promise<CreatedTenant> {
  return createTenant(p, name, origins);
}

async function count(t: CreatedTenant): Promise<number> {
  return (await stats(p, t.tenant.id)).events;
}

/** Exactly n events, given time to arrive, and none more after a pause. */
async function expectCount(t: CreatedTenant, n: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await count(t)) >= n, timeoutMs, `${n} events for ${t.tenant.name} (have ${await count(t)})`);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(await count(t), n);
}

async function context(): Promise<BrowserContext> {
  return browser.newContext({ ignoreHTTPSErrors: true });
}

async function open(ctx: BrowserContext, url: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(url);
  await ready(page);
  return page;
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction('window.palisade && !Array.isArray(window.palisade)');
}

/** Successful POSTs to /v1/batch made by a page, with the messageIds each carried. */
function deliveries(page: Page): { ids: string[]; statuses: number[] } {
  const out = { ids: [] as string[], statuses: [] as number[] };
  page.on('requestfinished', (req: Request) => {
    if (!req.url().endsWith('/v1/batch')) return;
    void req.response().then((res) => {
      out.statuses.push(res?.status() ?? 0);
      if (res?.status() === 200) for (const e of (JSON.parse(req.postData() ?? '{}') as { batch: { messageId: string }[] }).batch) out.ids.push(e.messageId);
    });
  });
  return out;
}

async function queued(page: Page): Promise<number> {
  return page.evaluate(() => {
    let n = 0;
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i) ?? '';
      if (k.startsWith('palisade:q:')) n += (JSON.parse(localStorage.getItem(k) ?? '[]') as unknown[]).length;
    }
    return n;
  });
}

describe('serving the script', () => {
  test('GET /sdk/palisade.js: JavaScript, cacheable, CORS *, with its SRI hash published three ways', async () => {
    const r = await p.api('GET', '/sdk/palisade.js');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/javascript/);
    assert.match(String(r.headers['cache-control']), /public, max-age=86400/);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    const hash = `sha384-${createHash('sha384').update(r.text).digest('base64')}`;
    assert.equal(r.headers['x-palisade-sri'], hash);
    assert.equal((await p.api('GET', '/sdk/palisade.js.sri')).text, hash);
    assert.equal(README_SRI_RE.exec(await readFile(README, 'utf8'))?.[1], hash, 'README snippet pins the served hash');
    const again = await p.api('GET', '/sdk/palisade.js', { headers: { 'if-none-match': String(r.headers.etag) } });
    assert.equal(again.status, 304);
    const mjs = await p.api('GET', '/sdk/palisade.mjs');
    assert.equal(mjs.status, 200);
    assert.match(mjs.text, /export\s*\{/);
    assert.equal((await p.api('GET', '/sdk/other.js')).status, 404);
  });
});

describe('moving from Segment', () => {
  test("analytics.js 2.0's one-letter paths and text/plain writeKey bodies are accepted", async () => {
    const t = await tenant('segment');
    const common = { anonymousId: 'ajs-anon', writeKey: t.keys.browser, integrations: {}, _metadata: { bundled: ['Segment.io'], unbundled: [] }, context: { library: { name: 'analytics.js', version: 'next-1.70.0' } }, sentAt: new Date().toISOString() };
    const bodies: [string, object][] = [
      ['t', { type: 'track', event: 'Clicked', properties: { x: 1 }, messageId: 'ajs-next-1' }],
      ['p', { type: 'page', name: 'Home', properties: { path: '/' }, messageId: 'ajs-next-2' }],
      ['i', { type: 'identify', userId: 'u1', traits: { plan: 'pro' }, messageId: 'ajs-next-3' }],
      ['g', { type: 'group', userId: 'u1', groupId: 'g1', traits: {}, messageId: 'ajs-next-4' }],
      ['a', { type: 'alias', userId: 'u1', previousId: 'ajs-anon', messageId: 'ajs-next-5' }],
      ['b', { batch: [{ type: 'track', event: 'Batched', anonymousId: 'ajs-anon', messageId: 'ajs-next-6' }], writeKey: t.keys.browser, sentAt: new Date().toISOString() }],
    ];
    for (const [path, body] of bodies) {
      const r = await p.api('POST', `/v1/${path}`, { raw: JSON.stringify(path === 'b' ? body : { ...common, ...body }), headers: { 'content-type': 'text/plain;charset=UTF-8', origin: site.origin } });
      assert.equal(r.status, 200, `/v1/${path}: ${r.text}`);
      assert.deepEqual(r.body, { success: true });
      assert.equal(r.headers['access-control-allow-origin'], site.origin);
    }
    await expectCount(t, 6);
    assert.equal((await p.api('POST', '/v1/x', { raw: '{}', headers: { 'content-type': 'text/plain', origin: site.origin } })).status, 404);
  });

  test('refusals carry CORS headers for known origins, so browser clients can read 401/403 and Retry-After', async () => {
    const t = await tenant('cors-refusal', [foreign.origin]);
    const r = await p.api('POST', '/v1/batch', { raw: JSON.stringify({ writeKey: t.keys.browser, batch: [{ type: 'track', event: 'E', anonymousId: 'a' }] }), headers: { 'content-type': 'text/plain', origin: site.origin } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['access-control-allow-origin'], site.origin);
    assert.match(String(r.headers['access-control-expose-headers']), /Retry-After/);
    const unknown = await p.api('POST', '/v1/batch', { raw: JSON.stringify({ writeKey: t.keys.browser, batch: [{ type: 'track', event: 'E', anonymousId: 'a' }] }), headers: { 'content-type': 'text/plain', origin: evil.origin } });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.headers['access-control-allow-origin'], undefined);
  });
});

describe('events of every type, with their context', () => {
  test('the README snippet on an allowed origin: queued calls, SPA routes, UTM campaign', async () => {
    const t = await tenant('classic');
    const url = site.page('/shop.html', classicPage({ host, key: t.keys.browser, options: fast, title: 'Shop', script: "palisade.track('Early', { queued: true });" }));
    const ctx = await context();
    const page = await open(ctx, `${url}?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero`);
    await page.evaluate(`(async () => {
      palisade.identify('u-1', { plan: 'pro' });
      palisade.track('Clicked', { button: 'buy' });
      palisade.group('g-1', { name: 'Acme' });
      palisade.alias('u-2');
      history.pushState({}, '', '/shop/cart');
      document.title = 'Cart';
      await new Promise((r) => setTimeout(r, 50));
      history.replaceState({ same: true }, '', '/shop/cart');
      history.back();
      await new Promise((r) => setTimeout(r, 200));
      return palisade.flush();
    })()`);
    await expectCount(t, 8);
    await ctx.close();
    checks.push({
      tenant: t,
      check(rows) {
        const byType = (type: string) => rows.filter((r) => r.type === type);
        assert.deepEqual(rows.map((r) => r.type).sort(), ['alias', 'group', 'identify', 'page', 'page', 'page', 'track', 'track']);
        assert.equal(new Set(rows.map((r) => r.anonymous_id)).size, 1, 'one anonymous id');
        for (const r of rows) {
          assert.equal(r.context.library?.name, 'palisade.js');
          assert.ok(r.context.page?.url?.startsWith(site.origin), JSON.stringify(r.context.page));
        }
        const [load, spa, back] = byType('page').sort((a, b) => a.ts - b.ts);
        assert.equal(load?.context.page?.path, '/shop.html');
        assert.equal(load?.context.page?.title, 'Shop');
        assert.equal(load?.context.page?.search, '?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero');
        assert.deepEqual(load?.context.campaign, { source: 'news', medium: 'email', name: 'spring', term: 'shoes', content: 'hero' });
        assert.equal(load?.properties.path, '/shop.html');
        assert.equal(spa?.context.page?.path, '/shop/cart');
        assert.equal(spa?.context.page?.title, 'Cart');
        assert.equal(spa?.context.page?.referrer, load?.context.page?.url);
        assert.equal(spa?.context.campaign, undefined);
        assert.equal(back?.context.page?.path, '/shop.html');
        const early = rows.find((r) => r.event === 'Early');
        assert.ok(early && early.ts <= (load?.ts ?? 0), 'a call queued before the script loaded keeps its own time');
        const clicked = rows.find((r) => r.event === 'Clicked');
        assert.equal(clicked?.user_id, 'u-1');
        assert.deepEqual(clicked?.context.campaign, { source: 'news', medium: 'email', name: 'spring', term: 'shoes', content: 'hero' });
        assert.equal(byType('identify')[0]?.traits.plan, 'pro');
        assert.equal(byType('group')[0]?.group_id, 'g-1');
        assert.deepEqual([byType('alias')[0]?.previous_id, byType('alias')[0]?.user_id], ['u-1', 'u-2']);
      },
    });
  });

  test('the ES module on an allowed cross-site origin', async () => {
    const t = await tenant('module');
    const url = foreign.page('/app.html', modulePage({ host, key: t.keys.browser, options: fast }));
    const ctx = await context();
    const page = await open(ctx, url);
    assert.equal(await page.evaluate('window.isSecureContext'), true);
    await page.evaluate(`(async () => {
      palisade.track('Module Loaded', { via: 'esm' });
      palisade.identify({ anonymousTrait: 1 });
      palisade.group('g-2');
      palisade.alias('u-9', 'anon-legacy');
      palisade.page('Docs', 'Install', { section: 'setup' });
      return palisade.flush();
    })()`);
    await expectCount(t, 6);
    await ctx.close();
    checks.push({
      tenant: t,
      check(rows) {
        assert.deepEqual(rows.map((r) => r.type).sort(), ['alias', 'group', 'identify', 'page', 'page', 'track']);
        const named = rows.find((r) => r.type === 'page' && r.event === 'Install');
        assert.equal(named?.properties.category, 'Docs');
        assert.equal(named?.properties.section, 'setup');
        assert.ok(rows.every((r) => r.context.page?.url === url));
        assert.equal(rows.find((r) => r.type === 'alias')?.previous_id, 'anon-legacy');
      },
    });
  });
});

describe('never losing an event', () => {
  test('offline for a while, then back: everything arrives once', async () => {
    const t = await tenant('offline');
    const url = site.page('/offline.html', classicPage({ host, key: t.keys.browser, options: fast }));
    const ctx = await context();
    const page = await open(ctx, url);
    await expectCount(t, 1);
    await ctx.setOffline(true);
    await page.evaluate(`for (let i = 0; i < 5; i++) palisade.track('Offline ' + i)`);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(await count(t), 1, 'nothing got through while offline');
    assert.equal(await queued(page), 5, 'the five events wait in localStorage');
    await ctx.setOffline(false);
    await expectCount(t, 6);
    assert.equal(await queued(page), 0);
    await ctx.close();
  });

  test('a page closed right after track still delivers it (sendBeacon on pagehide)', async () => {
    const t = await tenant('beacon');
    // After the load-time page event, nothing would be sent for a minute: only the pagehide beacon can deliver.
    const url = site.page('/close.html', classicPage({ host, key: t.keys.browser, options: { flushInterval: 60_000, flushAt: 100 } }));
    const ctx = await context();
    const page = await open(ctx, url);
    await expectCount(t, 1);
    await page.evaluate(`palisade.track('Last Click', { beforeClose: true })`);
    await page.close({ runBeforeUnload: true });
    await expectCount(t, 2);
    await ctx.close();
  });

  test('the queue survives a reload, and the next page sends it', async () => {
    const t = await tenant('reload');
    const url = site.page('/reload.html', classicPage({ host: proxied, key: t.keys.browser, options: fast }));
    const ctx = await context();
    const page = await open(ctx, url);
    await expectCount(t, 1);
    proxy.down();
    try {
      await page.evaluate(`for (let i = 0; i < 3; i++) palisade.track('Before Reload ' + i)`);
      await waitFor(async () => (await queued(page)) === 3, 5_000, '3 tracks queued');
      // The page itself comes from the site, which is up; Palisade is not (the pagehide beacon fails too).
      await page.reload();
      await ready(page);
      await waitFor(async () => (await queued(page)) === 4, 5_000, 'old queue adopted + the new page event');
      assert.equal(await count(t), 1);
    } finally {
      proxy.up();
    }
    await page.evaluate('palisade.flush()');
    await expectCount(t, 5);
    assert.equal(await queued(page), 0);
    await ctx.close();
  });

  test("several tabs: a closed tab's stored events are sent by exactly one other tab", async () => {
    const t = await tenant('tabs');
    const url = site.page('/tabs.html', classicPage({ host: proxied, key: t.keys.browser, options: { ...fast, autoPage: false } }));
    const ctx = await context();
    const [one, two, three] = [await open(ctx, url), await open(ctx, url), await open(ctx, url)];
    const sent = { two: deliveries(two), three: deliveries(three) };
    proxy.down();
    try {
      await one.evaluate(`palisade.track('Tab One A'); palisade.track('Tab One B')`);
      await two.evaluate(`palisade.track('Tab Two')`);
      await three.evaluate(`palisade.track('Tab Three')`);
      await waitFor(async () => (await queued(one)) === 4, 5_000, 'all four stored');
      await one.close({ runBeforeUnload: true });
      // Let the surviving tabs find the orphaned queue while Palisade is unreachable.
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(await count(t), 0);
    } finally {
      proxy.up();
    }
    await Promise.all([two.evaluate('palisade.flush()'), three.evaluate('palisade.flush()')]);
    await expectCount(t, 4);
    await new Promise((r) => setTimeout(r, 300));
    const all = [...sent.two.ids, ...sent.three.ids];
    assert.equal(all.length, 4, `each event sent once: ${JSON.stringify(sent)}`);
    assert.equal(new Set(all).size, 4);
    assert.equal(sent.three.ids.length + sent.two.ids.length - 2, 2, 'tab one\'s two events went out once, from one tab');
    await ctx.close();
  });
});

describe('refusals, retries and consent', () => {
  test('a disallowed origin is refused by the server and nothing is stored', async () => {
    const t = await tenant('refused');
    const url = evil.page('/evil.html', classicPage({ host, key: t.keys.browser, options: fast }));
    const ctx = await context();
    const page = await open(ctx, url);
    await page.evaluate(`palisade.track('Stolen Key')`);
    // CORS hides the refusal from the page (this origin is no tenant's), so read it in the server's request log.
    const refusal = await waitFor(
      async () => p.output.find((l) => l.includes(`"tenantId":"${t.tenant.id}"`) && l.includes('"route":"/v1/:path"')),
      5_000,
      'the refused request in the server log',
    );
    assert.match(refusal, /"status":403/);
    assert.equal(await count(t), 0);
    await ctx.close();
  });

  test("a known origin using another tenant's key gets a readable 403: dropped and reported, not retried", async () => {
    const t = await tenant('other-origin', [foreign.origin]);
    const url = site.page('/wrong-key.html', classicPage({ host, key: t.keys.browser, options: { ...fast, autoPage: false } }));
    const ctx = await context();
    const page = await ctx.newPage();
    const statuses: number[] = [];
    page.on('response', (res) => {
      if (res.url().endsWith('/v1/batch')) statuses.push(res.status());
    });
    const warnings: string[] = [];
    page.on('console', (m) => warnings.push(m.text()));
    await page.goto(url);
    await ready(page);
    assert.equal(await page.evaluate(`palisade.track('Wrong Key'), palisade.flush()`), true);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(statuses, [403]);
    assert.ok(warnings.some((w) => /dropped 1 event\(s\): http_403/.test(w)), warnings.join('\n'));
    assert.equal(await queued(page), 0);
    await ctx.close();
  });

  test('a 503 is retried no sooner than its Retry-After; a 400 is never retried', async () => {
    const t = await tenant('retry');
    const url = site.page('/retry.html', classicPage({ host, key: t.keys.browser, options: { ...fast, autoPage: false } }));
    const ctx = await context();
    const page = await open(ctx, url);
    const attempts: number[] = [];
    let mode: 'busy' | 'bad' | 'pass' = 'busy';
    await ctx.route(`${host}/v1/batch`, async (route) => {
      attempts.push(Date.now());
      const cors = { 'access-control-allow-origin': site.origin, 'access-control-expose-headers': 'Retry-After' };
      if (mode === 'busy') {
        mode = 'pass';
        return route.fulfill({ status: 503, headers: { ...cors, 'retry-after': '2' }, contentType: 'application/json', body: '{"error":{"code":"unavailable"}}' });
      }
      if (mode === 'bad') return route.fulfill({ status: 400, headers: cors, contentType: 'application/json', body: '{"error":{"code":"invalid_body"}}' });
      return route.continue();
    });
    await page.evaluate(`palisade.track('Busy Server')`);
    await expectCount(t, 1, 10_000);
    assert.equal(attempts.length, 2);
    assert.ok((attempts[1] ?? 0) - (attempts[0] ?? 0) >= 1_900, `waited ${(attempts[1] ?? 0) - (attempts[0] ?? 0)} ms`);
    mode = 'bad';
    await page.evaluate(`palisade.track('Bad Request')`);
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(attempts.length, 3, 'the 400 was not retried');
    assert.equal(await queued(page), 0);
    await ctx.close();
  });

  test('optOut: nothing sent from then on, across reloads, until optIn', async () => {
    const t = await tenant('consent');
    const url = site.page('/consent.html', classicPage({ host, key: t.keys.browser, options: fast }));
    const ctx = await context();
    const page = await open(ctx, url);
    await expectCount(t, 1);
    const sent = deliveries(page);
    await page.evaluate(`palisade.optOut(); palisade.track('After Opt Out'); palisade.flush()`);
    await page.reload();
    await ready(page);
    await page.evaluate(`palisade.track('After Reload'); palisade.flush()`);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await count(t), 1);
    assert.deepEqual(sent.ids, []);
    assert.equal(await page.evaluate(`localStorage.getItem('palisade:optout')`), '1');
    await page.evaluate(`palisade.optIn(); palisade.track('Opted In'); palisade.flush()`);
    await expectCount(t, 2);
    await ctx.close();
  });

  test('Do-Not-Track is honoured when the site asks for it', async () => {
    const t = await tenant('dnt');
    const ctx = await context();
    await ctx.addInitScript(`Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' })`);
    const respects = site.page('/dnt.html', classicPage({ host, key: t.keys.browser, options: { ...fast, respectDnt: true } }));
    const page = await open(ctx, respects);
    const sent = deliveries(page);
    await page.evaluate(`palisade.track('Ignored'); palisade.flush()`);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await count(t), 0);
    assert.deepEqual(sent.statuses, []);
    const ignores = site.page('/no-dnt.html', classicPage({ host, key: t.keys.browser, options: fast }));
    const other = await open(ctx, ignores);
    await other.evaluate(`palisade.track('Counted'); palisade.flush()`);
    await expectCount(t, 2);
    await ctx.close();
  });
});

describe('what landed in ClickHouse', () => {
  test('every event once, with its context', async () => {
    assert.equal(await p.stop(), 0);
    const wh = await openDataDir(p.dataDir);
    try {
      for (const { tenant: t, check } of checks) {
        const rows = await wh.query<Omit<Row, 'properties' | 'traits' | 'context'> & { properties: string; traits: string; context: string; n: string; u: string }>(
          `SELECT type, event, user_id, anonymous_id, group_id, previous_id, message_id,
                  toJSONString(properties) properties, toJSONString(traits) traits, toJSONString(context) context,
                  toUnixTimestamp64Milli(original_timestamp) ts
             FROM events WHERE tenant_id = {t:String}`,
          { params: { t: t.tenant.id } },
        );
        assert.equal(new Set(rows.map((r) => r.message_id)).size, rows.length, 'no duplicate rows');
        check(rows.map((r) => ({ ...r, ts: Number(r.ts), properties: JSON.parse(r.properties), traits: JSON.parse(r.traits), context: JSON.parse(r.context) })));
      }
    } finally {
      await wh.close();
    }
  });
});
