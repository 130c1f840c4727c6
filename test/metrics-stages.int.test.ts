/**
 * The per-stage metrics on a real server, read from its /metrics:
 * every response counted by route pattern, status class and credential kind
 * (including error-handler answers, 413 and Node's own 431); auth failures by
 * reason; query, flush and ClickHouse latencies; parts per partition; the
 * audit chain check. Then genuine faults: a tampered audit table turns
 * palisade_audit_chain_verified to 0 (and `palisade doctor` red), a key row
 * argon2 cannot read answers 500, and spool-full 503s move the 5xx counter
 * together with palisade_requests_refused_total (which PalisadeIngestionErrors
 * subtracts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { newSecretToken } from '../src/auth/tokens.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const NODE = 'edge-m';
const ENV = { PALISADE_NODE_ID: NODE, PALISADE_BACKUP_INTERVAL: 'off' };
let p: Palisade;
let a: CreatedTenant;
let b: CreatedTenant;

before(async () => {
  p = await startPalisade({ env: ENV });
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

async function scrape(): Promise<string> {
  const r = await p.admin<string>('GET', '/metrics');
  assert.equal(r.status, 200);
  return r.text;
}

/** A series' value (0 when absent): `name{labels}` exactly as exposed, labels in registration order. */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const http = (listener: string, route: string, status: string, kind: string) =>
  `palisade_http_requests_total{listener="${listener}",route="${route}",status_class="${status}",key_kind="${kind}"}`;

/** Sends a request whose headers exceed PALISADE_MAX_HEADER_BYTES: Node's parser answers it, not the app. */
function oversizedHeaders(port: number): Promise<number> {
  const ca = readFileSync(path.join(p.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  return new Promise((resolve, reject) => {
    const req = https.request({ host: 'localhost', port, path: '/healthz', ca, headers: { 'x-filler': 'a'.repeat(64 * 1024) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('every response is counted by route pattern, status class and credential kind; latencies by stage', async () => {
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const before = await scrape();
  const ingest = basic(a.keys.ingest);
  for (let i = 0; i < 3; i++) assert.equal((await p.api('POST', '/v1/track', { body: { event: 'e', userId: `u${i}` }, headers: ingest })).status, 200);
  const wrong = basic(newSecretToken(a.keys.ingest.slice(7, 23)).token);
  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'e', userId: 'u' }, headers: wrong })).status, 401);
  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'e', userId: 'u' } })).status, 401);
  // The raw path never becomes a label: an unknown ingestion path is the route pattern, an unknown route is `unmatched`.
  assert.equal((await p.api('POST', '/v1/zz-raw-path-marker', { body: {}, headers: ingest })).status, 404);
  assert.equal((await p.api('GET', '/zz-other-raw-marker')).status, 404);
  assert.equal((await p.api('POST', '/v1/batch', { raw: Buffer.alloc(600 * 1024, 0x20), headers: { ...ingest, 'content-type': 'application/json' } })).status, 413);
  assert.equal(await oversizedHeaders(p.apiPort), 431);
  const bearer = { authorization: `Bearer ${a.keys.query}` };
  assert.equal((await p.api('GET', '/v1/query/schema', { headers: bearer })).status, 200);
  assert.equal((await p.api('POST', '/v1/query', { body: { kind: 'nope' }, headers: bearer })).status, 400);
  assert.equal((await p.api('GET', '/admin/tenants')).status, 404, 'the admin API is not on the API listener');
  assert.equal((await p.admin('GET', '/admin/tenants')).status, 200);

  const m = await waitFor(async () => {
    const t = await scrape();
    return value(t, 'palisade_flusher_batch_duration_seconds_count{outcome="ok"}') >= 1 && t;
  }, 10_000, 'a flush batch');
  const delta = (series: string) => value(m, series) - value(before, series);
  assert.equal(delta(http('api', '/v1/:path', '2xx', 'secret')), 3);
  // 2 refused credentials and the unknown path (refused before auth); the 413 was authenticated before its body was read.
  assert.equal(delta(http('api', '/v1/:path', '4xx', 'none')), 3);
  assert.equal(delta(http('api', '/v1/:path', '4xx', 'secret')), 1);
  assert.equal(delta(http('api', 'unmatched', '4xx', 'none')), 2);
  assert.equal(delta(http('api', 'unparsed', '4xx', 'none')), 1);
  assert.equal(delta(http('api', '/v1/query/schema', '2xx', 'query')), 1);
  assert.equal(delta(http('api', '/v1/query', '4xx', 'query')), 1);
  assert.equal(delta(http('admin', '/admin/tenants', '2xx', 'admin')), 1);
  assert.ok(!/zz-raw-path-marker|zz-other-raw-marker/.test(m), 'no raw path in any label');
  assert.ok(!m.includes(a.tenant.id) && !m.includes(a.keys.ingest.slice(7, 23)), 'no tenant or key id in any label');
  assert.equal(delta('palisade_http_request_duration_seconds_count{listener="api",route="/v1/:path"}'), 7);
  // The three accepted ingestion requests were made durable by one to three group commits (fsyncs); nothing refused was spooled.
  assert.equal(delta('palisade_spool_group_commit_records_sum'), 3);
  const commits = delta('palisade_spool_group_commit_duration_seconds_count');
  assert.ok(commits >= 1 && commits <= 3 && delta('palisade_spool_group_commit_records_count') === commits, `${commits} group commits`);
  assert.ok(delta('palisade_spool_group_commit_duration_seconds_sum') > 0);

  assert.equal(delta('palisade_auth_failures_total{listener="api",reason="wrong_secret"}'), 1);
  assert.equal(delta('palisade_auth_failures_total{listener="api",reason="missing"}'), 1);
  // argon2 once per key (the ingest key's first use, the query key's first use); the cache for the other four uses.
  assert.equal(delta('palisade_auth_cache_hits_total'), 4);
  assert.equal(delta('palisade_auth_argon2_verifications_total'), 3, 'two first uses and the wrong secret');
  assert.equal(delta('palisade_query_duration_seconds_count{kind="schema",outcome="ok"}'), 1);
  assert.equal(delta('palisade_query_duration_seconds_count{kind="invalid",outcome="invalid_query"}'), 1);
  assert.ok(value(m, 'palisade_clickhouse_request_duration_seconds_count{op="insert",outcome="ok"}') > 0);
  assert.ok(value(m, 'palisade_clickhouse_request_duration_seconds_count{op="query",outcome="ok"}') > 0);

  // The audit chain: checked at start, and the writer's head is exposed.
  assert.ok(value(m, 'palisade_audit_chain_head_sequence') >= 2, 'tenant creations are audited');
  assert.equal(value(m, 'palisade_audit_chain_verified'), 1);
  assert.ok(value(m, 'palisade_audit_chain_last_verified_timestamp_seconds') > 0);
  // Parts are sampled by the housekeeper at start, then every minute; never on scrape.
  assert.ok(value(m, 'palisade_clickhouse_parts_sample_timestamp_seconds') > 0);
  assert.match(m, /^palisade_clickhouse_max_parts_per_partition\{table="schema_migrations"\} [1-9]/m);
  for (const name of ['palisade_process_nodejs_eventloop_lag_p99_seconds', 'palisade_process_process_resident_memory_bytes', 'palisade_auth_argon2_verifications_total', 'palisade_rate_limited_total']) {
    assert.match(m, new RegExp(`^# TYPE ${name} `, 'm'));
  }
});

test('after a restart: a tampered audit table reads 0 on /metrics and turns doctor red', async () => {
  const head = value(await scrape(), 'palisade_audit_chain_head_sequence');
  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    // Altered: one field of entry 2, as someone with ClickHouse access would.
    await wh.command("ALTER TABLE audit_log UPDATE outcome = 'denied' WHERE node_id = {n:String} AND seq = 2", { params: { n: NODE }, settings: { mutations_sync: 2 } });
    // And a key row whose stored hash argon2 cannot read (a genuine fault for the next test).
    await wh.command("ALTER TABLE api_keys UPDATE secret_hash = 'not-an-argon2-hash' WHERE id = {id:String}", {
      params: { id: b.keys.ingest.slice(7, 23) },
      settings: { mutations_sync: 2 },
    });
  } finally {
    await wh.close();
  }
  // 64 KiB spool (the minimum) and a flush a minute: the spool stays full once a large batch is in it.
  p = await startPalisade({ dataDir: p.dataDir, env: { ...ENV, PALISADE_SPOOL_MAX_BYTES: String(64 * 1024), PALISADE_FLUSH_INTERVAL_MS: '60000' } });
  const m = await waitFor(async () => {
    const t = await scrape();
    return value(t, 'palisade_audit_chain_last_verified_timestamp_seconds') > 0 && t;
  }, 30_000, 'the start-up chain check');
  assert.equal(value(m, 'palisade_audit_chain_verified'), 0);
  assert.ok(value(m, 'palisade_audit_chain_head_sequence') >= head);
  assert.ok(p.output.some((l) => l.includes('audit chain broken')), 'logged once, kind and position only');

  const doctor = await p.cli(['doctor', '--json']);
  assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
  const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string; next?: string }[] }).checks;
  const chain = checks.find((c) => c.name === 'audit chain');
  assert.equal(chain?.status, 'red');
  assert.match(chain?.detail ?? '', /first: altered at entry 2/);
  assert.match(chain?.next ?? '', /palisade audit verify.*PalisadeAuditChainBroken\.md/);
  assert.equal(checks.find((c) => c.name === 'clickhouse parts')?.status, 'ok');
});

test('genuine 5xx faults move the ingestion 5xx counter; spool-full 503s move it and palisade_requests_refused_total alike', async () => {
  const five = http('api', '/v1/:path', '5xx', 'none');
  const before = await scrape();
  // The key row argon2 cannot read: every use is a 500 "internal error", never a message from the library.
  for (let i = 0; i < 3; i++) {
    const r = await p.api<{ error: { code: string; message: string } }>('POST', '/v1/track', { body: { event: 'e', userId: 'u' }, headers: basic(b.keys.ingest) });
    assert.equal(r.status, 500);
    assert.deepEqual([r.body.error.code, r.body.error.message], ['internal', 'internal error']);
  }
  const mid = await scrape();
  assert.equal(value(mid, five) - value(before, five), 3);
  assert.equal(value(mid, 'palisade_requests_refused_total{reason="spool_full"}'), 0);

  // ~70 KB in one batch fills the 64 KiB spool; nothing flushes it for a minute.
  const big = { batch: Array.from({ length: 10 }, (_, i) => ({ type: 'track', event: 'big', userId: `u${i}`, properties: { pad: 'x'.repeat(7_000) } })) };
  assert.equal((await p.api('POST', '/v1/batch', { body: big, headers: basic(a.keys.ingest) })).status, 200);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await p.api('POST', '/v1/track', { body: { event: 'e', userId: 'u' }, headers: basic(a.keys.ingest) })).status);
  const refused = statuses.filter((s) => s === 503).length;
  assert.ok(refused > 0, `the spool was full: ${statuses.join(',')}`);
  const m = await scrape();
  // A refusal answers before authentication, so its credential kind is none.
  assert.equal(value(m, five) - value(mid, five), refused);
  assert.equal(value(m, 'palisade_requests_refused_total{reason="spool_full"}'), refused);
  // What PalisadeIngestionErrors counts: 5xx minus refusals, i.e. the three 500s.
  assert.equal(value(m, five) - value(before, five) - value(m, 'palisade_requests_refused_total{reason="spool_full"}'), 3);
});
