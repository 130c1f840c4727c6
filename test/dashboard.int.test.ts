/**
 * The built-in dashboard in a real headless Chromium (Debian's or the npm
 * one, see helpers/chromium.ts; driven by playwright-core): a person pastes a query key and
 * sees the numbers that were ingested — totals, the chart, top events,
 * pages and referrers, a funnel and the live list — with no CSP violation,
 * no console error, no script run from tenant data, and the key kept in
 * sessionStorage only. A screenshot is kept under os.tmpdir() (its path is logged).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchPersistentChromium } from './helpers/chromium.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const XSS = '<img src=x onerror="window.__xss=1">';

let p: Palisade;
let t: CreatedTenant;
let profile: string;
let browser: BrowserContext;
let page: Page;
const problems: string[] = [];

// Six visitors view pages; four sign up; two buy. One event name is an XSS
// payload, and one request is retried with the same messageId.
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
const paths = ['/', '/', '/pricing', '/', '/docs', '/pricing'];
const referrers = ['https://www.google.com/', 'https://google.com/search', 'https://news.ycombinator.com/', 'https://www.google.com/', undefined, undefined];
const batch = [
  ...users.map((userId, i) => ({ type: 'page', name: 'Home', userId, timestamp: minutesAgo(60 - i), properties: { path: paths[i], ...(referrers[i] ? { referrer: referrers[i] } : {}) } })),
  ...users.slice(0, 4).map((userId, i) => ({ type: 'track', event: 'Signed Up', userId, timestamp: minutesAgo(40 - i), properties: { plan: i % 2 ? 'pro' : 'free' } })),
  ...users.slice(0, 2).map((userId, i) => ({ type: 'track', event: 'Purchased', userId, timestamp: minutesAgo(20 - i), properties: { price: 49 } })),
  { type: 'track', event: XSS, anonymousId: 'a7', timestamp: minutesAgo(5), messageId: 'xss-1', properties: { note: XSS } },
];
const TOTAL_EVENTS = batch.length; // 13
const TOTAL_USERS = 7; // u1-u6 and a7

before(async () => {
  p = await startPalisade();
  t = await createTenant(p, 'acme');
  const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: basic(t.keys.ingest) });
  assert.equal(r.status, 200, r.text);
  // The retried request: same messageId, must not count twice.
  await p.api('POST', '/v1/track', { body: batch[batch.length - 1], headers: basic(t.keys.ingest) });
  await waitFor(async () => {
    const q = await p.api<{ total: number }>('POST', '/v1/query', { body: { kind: 'trend', from: '-1d' }, headers: basic(t.keys.query) });
    return q.body.total === TOTAL_EVENTS;
  }, 10_000, 'events to land');

  profile = await mkdtemp(path.join(tmpdir(), 'palisade-chromium-'));
  browser = await launchPersistentChromium(profile, {
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
    timezoneId: 'UTC',
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  if (profile) await removeDir(profile);
  await p?.kill();
  if (p) await removeDir(p.dataDir);
});

const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim();

async function rows(table: string): Promise<string[][]> {
  return page.locator(`#${table} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
}

test('the page is static, same-origin and under a strict CSP', async () => {
  const r = await p.api('GET', '/dashboard');
  assert.equal(r.status, 200);
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.ok(!csp.includes('unsafe'), csp);
  assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(r.text, /\sstyle=|<style/, 'no inline style');
  assert.doesNotMatch(r.text, /https?:\/\/(?!localhost)/, 'nothing from another origin');
  const lib = await p.api('GET', '/dashboard/vendor/uplot.js');
  assert.equal(lib.status, 200);
  assert.match(String(lib.headers['content-type']), /^text\/javascript/);
});

test('a pasted query key shows the ingested numbers, the chart, the lists and the funnel', async (ctx) => {
  await page.goto(`https://localhost:${p.apiPort}/dashboard`);
  await page.fill('#key', t.keys.query);
  await page.click('#connect');
  await page.waitForSelector('body[data-loaded]', { timeout: 15_000 });

  assert.equal(await text('#total-events'), String(TOTAL_EVENTS));
  assert.equal(await text('#total-users'), String(TOTAL_USERS));
  assert.equal(await text('#total-names'), '4');
  assert.equal(await page.locator('#chart canvas').count(), 1, 'uPlot drew the chart');
  assert.equal(await page.getAttribute('#chart', 'data-total'), String(TOTAL_EVENTS));
  const legend = await page.locator('#chart .u-legend .u-label:visible').allTextContents();
  assert.deepEqual(legend.filter((l) => l !== 'Time').slice(0, 3), ['Home', 'Signed Up', 'Purchased']);

  const topEvents = await rows('top-events');
  assert.deepEqual(topEvents.slice(0, 3).map((r) => [r[0], r[1]]), [['Home', '6'], ['Signed Up', '4'], ['Purchased', '2']]);
  assert.deepEqual((await rows('top-pages')).map((r) => [r[0], r[1], r[2]]), [['/', '3', '50 %'], ['/pricing', '2', '33 %'], ['/docs', '1', '17 %']]);
  assert.deepEqual((await rows('top-referrers')).map((r) => [r[0], r[1]]), [['google.com', '3'], ['news.ycombinator.com', '1']]);

  await page.waitForSelector('#funnel-result .funnel-step');
  const funnel = await page.locator('#funnel-result .funnel-count').allTextContents();
  assert.deepEqual(funnel, ['6', '4', '2']);

  const live = await rows('event-list');
  assert.equal(live.length, TOTAL_EVENTS, 'each event once, the retried one included');
  assert.equal(live[0]?.[2], XSS, 'tenant data is shown as text');
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'and never runs');

  assert.equal(await page.evaluate(() => sessionStorage.getItem('palisade.queryKey')), t.keys.query);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => document.cookie), '');

  // Kept outside the work tree (a test writes only under os.tmpdir()); the path is in the test output.
  const shot = path.join(tmpdir(), 'palisade-dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  ctx.diagnostic(`screenshot: ${shot}`);
  assert.deepEqual(problems, [], 'no console errors or CSP violations');
});

test('the funnel builder re-runs with other steps; a reload keeps the key for the tab', async () => {
  await page.locator('.funnel-event').nth(2).selectOption('Signed Up');
  await page.locator('.funnel-event').nth(1).selectOption('Purchased');
  await page.click('#funnel-run');
  await page.waitForFunction(() => [...document.querySelectorAll('#funnel-result .funnel-count')].map((e) => e.textContent).join(',') === '6,2,0');
  await page.reload();
  await page.waitForSelector('body[data-loaded]', { timeout: 15_000 });
  assert.equal(await text('#total-events'), String(TOTAL_EVENTS));
  assert.deepEqual(problems, []);
});

test('a key without the query scope is refused on the page', async () => {
  await page.click('#forget');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('palisade.queryKey')), null);
  await page.fill('#key', t.keys.ingest);
  await page.click('#connect');
  await page.waitForSelector('#status.error');
  assert.match(await text('#status'), /wrong_scope/);
  assert.equal(await page.isVisible('#board'), false);
});
