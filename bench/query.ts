/**
 * Query latency on a generated data set: BENCH_QUERY_EVENTS events (default
 * 10 million) across BENCH_QUERY_TENANTS tenants (default 100), spread over 60
 * days. The data is generated inside ClickHouse (INSERT … SELECT FROM
 * numbers()) by this process on the server's data directory while the server
 * is stopped (chDB binds one data directory per process), then the server is
 * started on it and one tenant's dashboard queries are timed through the
 * HTTPS API. Prints a markdown table.
 *   node --import tsx bench/query.ts      (also run at the end of `npm run bench`)
 *   BENCH_QUERY_RUNS (default 50) timed runs per query, after 3 warm-up runs.
 */
import { cpus, totalmem } from 'node:os';
import { openDataDir } from '../test/helpers/data-dir.ts';
import { basic, createTenant, removeDir, startPalisade, type Palisade } from '../test/helpers/palisade.ts';

const EVENTS = Number(process.env.BENCH_QUERY_EVENTS ?? 10_000_000);
const TENANTS = Number(process.env.BENCH_QUERY_TENANTS ?? 100);
const RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 50);
const WARMUP = 3;
const DAYS = 60;
// Ten tenants per INSERT: each statement touches 10 tenants × 3 months of partitions.
const TENANTS_PER_INSERT = 10;

/**
 * One INSERT … SELECT for tenants [first, first + count): per tenant EVENTS / TENANTS
 * events by one user per 50 events, half page views over 50 paths and 8 referrers,
 * the rest a shop's track events with a plan and a price.
 */
function generateSql(first: number, count: number, perTenant: number, measuredTenant: string): string {
  const users = Math.max(100, Math.floor(perTenant / 50));
  return `INSERT INTO events (tenant_id, message_id, type, event, user_id, anonymous_id, group_id, previous_id,
    timestamp, original_timestamp, sent_at, received_at, properties, traits, context, ip, user_agent, key_id)
SELECT
  if(t = 0, '${measuredTenant}', concat('ten_bench', leftPad(toString(t), 3, '0'))) AS tenant_id,
  concat('bench-', toString(n)) AS message_id,
  if(r < 50, 'page', 'track') AS type,
  multiIf(r < 50, 'Page View', r < 70, 'Product Viewed', r < 85, 'Added to Cart', r < 93, 'Checkout Started', r < 97, 'Purchased', 'Signed Up') AS event,
  concat('user_', toString(cityHash64(n, 'u') % ${users})) AS user_id,
  '' AS anonymous_id, '' AS group_id, '' AS previous_id,
  now64(3) - toIntervalMillisecond(cityHash64(n, 't') % ${DAYS * 86_400_000}) AS timestamp,
  NULL, NULL, timestamp AS received_at,
  CAST(if(r < 50,
    concat('{"path":"/p/', toString(cityHash64(n, 'p') % 50), '","referrer":"https://ref', toString(cityHash64(n, 'r') % 8), '.example/"}'),
    concat('{"plan":"', ['free', 'pro', 'team'][1 + cityHash64(n, 'plan') % 3], '","price":', toString(n % 200), '}')), 'JSON') AS properties,
  CAST('{}', 'JSON') AS traits,
  CAST(if(r < 50, concat('{"page":{"path":"/p/', toString(cityHash64(n, 'p') % 50), '"}}'), '{}'), 'JSON') AS context,
  '' AS ip, 'bench' AS user_agent, 'bench' AS key_id
FROM (SELECT number + ${first * perTenant} AS n, intDiv(n, ${perTenant}) AS t, cityHash64(n, 'e') % 100 AS r FROM numbers(${count * perTenant}))`;
}

async function generate(dataDir: string, measuredTenant: string): Promise<number> {
  const wh = await openDataDir(dataDir);
  const perTenant = Math.floor(EVENTS / TENANTS);
  const started = performance.now();
  try {
    for (let first = 0; first < TENANTS; first += TENANTS_PER_INSERT) {
      const count = Math.min(TENANTS_PER_INSERT, TENANTS - first);
      await wh.command(generateSql(first, count, perTenant, measuredTenant), {
        settings: { max_partitions_per_insert_block: 1000, max_insert_threads: 2 },
        timeoutMs: 600_000,
      });
    }
  } finally {
    await wh.close();
  }
  return performance.now() - started;
}

interface Measured {
  name: string;
  p50: number;
  p99: number;
  max: number;
  check: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function measure(p: Palisade, key: string, name: string, body: unknown, check: (r: unknown) => string): Promise<Measured> {
  const times: number[] = [];
  let last: unknown;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const started = performance.now();
    const r = await p.api('POST', '/v1/query', { body, headers: basic(key) });
    const ms = performance.now() - started;
    if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.text}`);
    if (i >= WARMUP) times.push(ms);
    last = r.body;
  }
  times.sort((a, b) => a - b);
  return { name, p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] ?? NaN, check: check(last) };
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

let p = await startPalisade({ env: { PALISADE_IP_RATE_LIMIT: '0', PALISADE_KEY_RATE_LIMIT: '0' } });
const dataDir = p.dataDir;
try {
  const tenant = await createTenant(p, 'bench-query');
  await p.stop();
  const genMs = await generate(dataDir, tenant.tenant.id);
  p = await startPalisade({ dataDir, env: { PALISADE_IP_RATE_LIMIT: '0', PALISADE_KEY_RATE_LIMIT: '0' } });
  const key = tenant.keys.query;
  const rows: Measured[] = [
    await measure(p, key, '30-day daily trend (events)', { kind: 'trend', from: '-30d', interval: 'day' }, (r) => `${fmt((r as { total: number }).total)} events`),
    await measure(p, key, '30-day daily trend, breakdown by plan (top 5)', { kind: 'trend', from: '-30d', interval: 'day', breakdown: { property: 'plan' }, limit: 5 }, (r) => `${(r as { series: unknown[] }).series.length} series`),
    await measure(p, key, '30-day unique users', { kind: 'trend', from: '-30d', interval: 'day', measure: 'users' }, (r) => `${fmt((r as { total: number }).total)} users`),
    await measure(p, key, 'top pages, 30 days', { kind: 'top', from: '-30d', by: { field: 'page_path' }, filters: [{ field: 'type', op: 'eq', value: 'page' }], limit: 10 }, (r) => `${(r as { rows: unknown[] }).rows.length} rows of ${fmt((r as { total: number }).total)}`),
    await measure(p, key, '3-step funnel, 30 days, 1-day window', {
      kind: 'funnel', from: '-30d', windowSeconds: 86_400, steps: [{ event: 'Product Viewed' }, { event: 'Added to Cart' }, { event: 'Purchased' }],
    }, (r) => (r as { steps: { count: number }[] }).steps.map((s) => fmt(s.count)).join(' → ')),
    await measure(p, key, 'latest 50 events', { kind: 'events', limit: 50 }, (r) => `${(r as { events: unknown[] }).events.length} events`),
  ];
  const lines = [
    `Palisade query benchmark — ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, embedded chDB`,
    `${fmt(EVENTS)} events across ${TENANTS} tenants over ${DAYS} days (${fmt(Math.floor(EVENTS / TENANTS))} per tenant), generated in ${fmt(genMs / 1000, 1)} s; one tenant's queries over HTTPS, ${RUNS} sequential runs each after ${WARMUP} warm-up runs`,
    '',
    '| query (one tenant) | p50 ms | p99 ms | max ms | answer |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.max, 1)} | ${r.check} |`),
  ];
  process.stdout.write('\n' + lines.join('\n') + '\n');
} finally {
  await p.stop();
  await removeDir(dataDir);
}
