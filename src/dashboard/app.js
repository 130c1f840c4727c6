// Palisade's built-in dashboard. Plain browser JavaScript, no framework, no
// build step. It uses only the public query API with the key the person
// pastes; the key lives in sessionStorage (gone when the tab closes). Every
// piece of tenant data is written with textContent, never as HTML: event
// names and properties are customer input.
/* global uPlot */

const KEY_STORE = 'palisade.queryKey';
const LIVE_MS = 5_000;
const RANGES = {
  '24h': { from: '-24h', interval: 'hour' },
  '7d': { from: '-7d', interval: 'day' },
  '30d': { from: '-30d', interval: 'day' },
  '90d': { from: '-90d', interval: 'week' },
};
const COLORS = ['#3d5afe', '#00a676', '#f59e0b', '#e11d48', '#7c3aed', '#0891b2', '#9ca3af'];

const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString('en-US');
const pct = (x) => `${(x * 100).toFixed(x >= 0.1 || x === 0 ? 0 : 1)} %`;

let key = sessionStorage.getItem(KEY_STORE) ?? '';
let timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
let chart;
let liveTimer;
let cursor = null;
let paged = false;
let knownEvents = [];

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One API call; a 429 (this tenant's queries are queued up, e.g. several tabs open) is retried after Retry-After. */
async function api(body, attempt = 0) {
  const init = body === undefined
    ? { method: 'GET', headers: { authorization: `Bearer ${key}` } }
    : { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(body === undefined ? '/v1/query/schema?from=-90d' : '/v1/query', { ...init, credentials: 'omit', cache: 'no-store' });
  const json = await res.json().catch(() => ({}));
  if (res.status === 429 && attempt < 3) {
    await sleep(1000 * Math.min(5, Number(res.headers.get('retry-after')) || 1));
    return api(body, attempt + 1);
  }
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? 'error', json?.error?.message ?? `HTTP ${res.status}`);
  return json;
}

/** Queries in the browser's time zone; falls back to UTC once if the server does not know it. */
async function query(body) {
  try {
    return await api({ ...body, ...('timezone' in body || !needsZone(body) ? {} : { timezone }) });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'invalid_query' && err.message.startsWith('timezone') && timezone !== 'UTC') {
      timezone = 'UTC';
      $('tz').textContent = 'Times in UTC';
      return query(body);
    }
    throw err;
  }
}
const needsZone = (b) => b.kind === 'trend' || b.kind === 'top' || b.kind === 'funnel' || b.kind === 'events';

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function range() {
  return RANGES[$('range').value] ?? RANGES['7d'];
}

// ---- events over time ------------------------------------------------------

function bucketTime(label) {
  // Buckets come back as wall-clock labels in our time zone: 2026-11-24 or 2026-11-24 13:00:00.
  const [d, t = '00:00:00'] = label.split(' ');
  const [y, m, day] = d.split('-').map(Number);
  const [h] = t.split(':').map(Number);
  return new Date(y, m - 1, day, h).getTime() / 1000;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Tick labels for bucket starts: hours as 14:00 (with the date at midnight), days as 24 Nov. */
function tickLabel(interval, t) {
  const d = new Date(t * 1000);
  const date = `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  if (interval === 'month') return `${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
  if (interval !== 'hour') return date;
  const hh = `${String(d.getHours()).padStart(2, '0')}:00`;
  return d.getHours() === 0 ? `${hh}\n${date}` : hh;
}

function drawChart(trend) {
  const host = $('chart');
  const xs = trend.buckets.map(bucketTime);
  // One tick per bucket, thinned to about a dozen so labels never collide.
  const every = Math.max(1, Math.ceil(xs.length / 12));
  const ticks = xs.filter((_, i) => i % every === 0);
  const lines = trend.series.map((s) => ({ label: s.key ?? '(not set)', values: s.values }));
  if (trend.other) lines.push({ label: 'other', values: trend.other.values });
  if (lines.length === 0) lines.push({ label: 'events', values: trend.buckets.map(() => 0) });
  const opts = {
    width: Math.max(320, host.clientWidth),
    height: 280,
    scales: { x: { time: true } },
    legend: { live: false },
    axes: [
      { stroke: '#6b7385', grid: { stroke: '#eef0f4' }, splits: () => ticks, values: (_u, splits) => splits.map((t) => tickLabel(trend.interval, t)) },
      { stroke: '#6b7385', grid: { stroke: '#eef0f4' } },
    ],
    series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 2, points: { size: 5 } }))],
  };
  chart?.destroy();
  host.replaceChildren();
  chart = new uPlot(opts, [xs, ...lines.map((l) => l.values)], host);
  host.dataset.points = String(xs.length);
  host.dataset.total = String(trend.total);
}

async function loadTrend() {
  const r = range();
  const measure = $('measure').value;
  const [byEvent, users] = await Promise.all([
    query({ kind: 'trend', from: r.from, interval: r.interval, measure, breakdown: { field: 'event' }, limit: 5 }),
    query({ kind: 'trend', from: r.from, interval: r.interval, measure: 'users' }),
  ]);
  const events = measure === 'events' ? byEvent : await query({ kind: 'trend', from: r.from, interval: r.interval });
  $('total-events').textContent = fmt(events.total);
  $('total-users').textContent = fmt(users.total);
  $('chart-title').textContent = measure === 'events' ? 'Events over time, top 5 events' : 'Unique users over time, top 5 events';
  drawChart(byEvent);
}

// ---- top lists ----------------------------------------------------------------

function renderTop(tableId, result, emptyText) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  if (result.rows.length === 0) {
    body.append(el('tr', {}, [el('td', { class: 'empty', colspan: '3', text: emptyText })]));
    return;
  }
  const max = Math.max(...result.rows.map((r) => r.count));
  for (const row of result.rows) {
    const meter = el('div', { class: 'meter' }, [el('span')]);
    meter.firstChild.style.width = `${Math.round((100 * row.count) / max)}%`;
    body.append(
      el('tr', {}, [
        el('td', { class: 'name', title: row.value }, [el('span', { text: row.value }), meter]),
        el('td', { class: 'count', text: fmt(row.count) }),
        el('td', { class: 'share', text: pct(row.share) }),
      ]),
    );
  }
}

async function loadTops() {
  const r = range();
  const [events, pages, referrers] = await Promise.all([
    query({ kind: 'top', from: r.from, by: { field: 'event' }, limit: 8 }),
    query({ kind: 'top', from: r.from, by: { field: 'page_path' }, filters: [{ field: 'type', op: 'eq', value: 'page' }], limit: 8 }),
    query({ kind: 'top', from: r.from, by: { field: 'referring_domain' }, limit: 8 }),
  ]);
  renderTop('top-events', events, 'No events in this range');
  renderTop('top-pages', pages, 'No page views in this range');
  renderTop('top-referrers', referrers, 'No referrers in this range');
}

// ---- funnel ----------------------------------------------------------------------

function stepSelect(value) {
  const select = el('select', { class: 'funnel-event', 'aria-label': 'Funnel step' });
  for (const name of knownEvents) select.append(el('option', { value: name, text: name }));
  if (value !== undefined) select.value = value;
  return select;
}

function addStep(value) {
  const remove = el('button', { type: 'button', class: 'quiet', 'aria-label': 'Remove step', text: '×' });
  const li = el('li', {}, [stepSelect(value), remove]);
  remove.addEventListener('click', () => {
    if ($('funnel-steps').children.length > 2) li.remove();
  });
  $('funnel-steps').append(li);
}

function resetFunnel() {
  $('funnel-steps').replaceChildren();
  const defaults = knownEvents.slice(0, Math.min(3, knownEvents.length));
  while (defaults.length < 2) defaults.push(knownEvents[0] ?? '');
  for (const name of defaults) addStep(name);
}

async function runFunnel() {
  const steps = [...document.querySelectorAll('.funnel-event')].map((s) => ({ event: s.value })).filter((s) => s.event);
  const out = $('funnel-result');
  if (steps.length < 2) {
    out.replaceChildren(el('p', { class: 'empty', text: 'Pick at least two steps.' }));
    return;
  }
  const r = range();
  const result = await query({ kind: 'funnel', from: r.from, steps, windowSeconds: Number($('funnel-window').value) });
  const first = result.steps[0]?.count ?? 0;
  out.replaceChildren(
    ...result.steps.map((s, i) => {
      const fill = el('span');
      fill.style.height = `${first > 0 ? Math.max(2, Math.round((100 * s.count) / first)) : 0}%`;
      return el('div', { class: 'funnel-step', 'data-step': String(i + 1) }, [
        el('div', { class: 'funnel-bar' }, [fill]),
        el('span', { class: 'funnel-count', text: fmt(s.count) }),
        el('span', { class: 'funnel-name', title: steps[i].event, text: `${i + 1}. ${steps[i].event}` }),
        el('span', { class: 'muted', text: i === 0 ? 'started' : `${pct(s.conversion)} overall · ${pct(s.stepConversion)} from previous` }),
      ]);
    }),
  );
}

// ---- live events and warnings ------------------------------------------------------

function timeText(iso) {
  return new Date(iso).toLocaleString('en-GB', { timeZone: timezone, hour12: false });
}

function eventRow(e) {
  const props = JSON.stringify(e.properties);
  return el('tr', { 'data-message-id': e.messageId }, [
    el('td', { class: 'time', text: timeText(e.timestamp) }),
    el('td', { class: 'type', text: e.type }),
    el('td', { class: 'name', title: e.event, text: e.event || '—' }),
    el('td', { text: e.userId || e.anonymousId }),
    el('td', { class: 'props', title: props.slice(0, 2_000), text: props === '{}' ? '' : props }),
  ]);
}

async function loadEvents(more = false) {
  const body = $('event-list').tBodies[0];
  const page = await query({ kind: 'events', from: '-90d', limit: 25, ...(more && cursor ? { cursor } : {}) });
  paged = more;
  if (!more) body.replaceChildren();
  for (const e of page.events) body.append(eventRow(e));
  if (!more && page.events.length === 0) body.append(el('tr', {}, [el('td', { class: 'empty', colspan: '5', text: 'No events in the last 90 days' })]));
  cursor = page.nextCursor;
  $('more').hidden = !cursor;
}

async function loadWarnings() {
  const result = await query({ kind: 'warnings', limit: 20 });
  const body = $('warnings').tBodies[0];
  body.replaceChildren();
  if (result.items.length === 0) body.append(el('tr', {}, [el('td', { class: 'empty', colspan: '5', text: 'Nothing dropped in the last 30 days' })]));
  for (const w of result.items) {
    body.append(
      el('tr', {}, [
        el('td', { class: 'time', text: timeText(w.at) }),
        el('td', { text: w.source === 'warning' ? 'rejected at the edge' : 'dead letter' }),
        el('td', { text: w.code }),
        el('td', { title: w.message, text: w.message }),
        el('td', { text: w.messageId }),
      ]),
    );
  }
}

function scheduleLive() {
  clearInterval(liveTimer);
  if (!$('live').checked) return;
  liveTimer = setInterval(() => {
    // Only the first page refreshes, so paging back through history is not undone.
    if (document.hidden || paged) return;
    loadEvents(false).catch(showError);
  }, LIVE_MS);
}

// ---- wiring ------------------------------------------------------------------

function showError(err) {
  if (err instanceof ApiError && (err.status === 401 || err.code === 'wrong_scope')) {
    status(`${err.message} (${err.code})`, true);
    $('board').hidden = true;
    $('controls').hidden = true;
    clearInterval(liveTimer);
    return;
  }
  status(err instanceof ApiError ? `${err.message} (${err.code})` : 'Could not reach the query API', true);
}

async function loadAll() {
  status('Loading…');
  const started = performance.now();
  try {
    const schema = await api(undefined);
    knownEvents = schema.events.map((e) => e.name);
    $('total-names').textContent = fmt(knownEvents.length);
    $('board').hidden = false;
    $('controls').hidden = false;
    $('forget').hidden = false;
    if ($('funnel-steps').children.length === 0) resetFunnel();
    await Promise.all([loadTrend(), loadTops(), loadEvents(false), loadWarnings()]);
    if (knownEvents.length >= 2) await runFunnel();
    status(`Updated ${new Date().toLocaleTimeString('en-GB')} · ${Math.round(performance.now() - started)} ms`);
    document.body.dataset.loaded = String(Date.now());
    scheduleLive();
  } catch (err) {
    showError(err);
  }
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('key').value.trim();
  if (!value) return;
  key = value;
  sessionStorage.setItem(KEY_STORE, key);
  $('key').value = '';
  $('funnel-steps').replaceChildren();
  loadAll();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORE);
  key = '';
  clearInterval(liveTimer);
  $('board').hidden = true;
  $('controls').hidden = true;
  $('forget').hidden = true;
  status('Key forgotten.');
});
$('range').addEventListener('change', loadAll);
$('measure').addEventListener('change', () => loadTrend().catch(showError));
$('refresh').addEventListener('click', loadAll);
$('funnel-add').addEventListener('click', () => {
  if ($('funnel-steps').children.length < 10) addStep(knownEvents[0]);
});
$('funnel-run').addEventListener('click', () => runFunnel().catch(showError));
$('more').addEventListener('click', () => loadEvents(true).catch(showError));
$('live').addEventListener('change', scheduleLive);
window.addEventListener('resize', () => chart?.setSize({ width: Math.max(320, $('chart').clientWidth), height: 280 }));

$('tz').textContent = `Times in ${timezone}`;
if (key) loadAll();
else status('Paste a query key to see your data. It stays in this tab only.');
