/**
 * Least privilege on the server path (ops/clickhouse): with CLICKHOUSE_QUERY_USER
 * and CLICKHOUSE_INGEST_USER set, every query-API statement reaches ClickHouse as
 * the query user carrying the tenant setting its row policy reads, the flusher
 * writes as the ingest user, and migrations and the control plane run as
 * CLICKHOUSE_USER; nothing writes as the query user. Without them, everything
 * runs as CLICKHOUSE_USER, as before. What each login sends is also checked
 * against the settings profile of its ops/clickhouse/*-user.sql, as a real
 * server would (readonly = 1 refuses any setting not CHANGEABLE_IN_READONLY).
 *
 * The server is the test bridge (chDB behind ClickHouse's HTTP interface),
 * which knows several logins and logs who sent each statement. chDB has no
 * access control, so this proves which login the application uses for what,
 * not that ClickHouse enforces the grants (see ops/clickhouse/README.md).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Bridge } from './helpers/clickhouse-backend.ts';
import { opsStatements, profileSettings, settingViolations } from './helpers/clickhouse-ops.ts';
import { basic, createTenant, removeDir, startPalisade, tempDir, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

interface Statement {
  user: string;
  database: string;
  statement: string;
  settings: Record<string, string>;
}

const ADMIN = { user: 'palisade_admin', password: 'admin-pw' };
const INGEST = { user: 'palisade_ingest', password: 'ingest-pw' };
const QUERY = { user: 'palisade_query', password: 'query-pw' };
// The start-up login check (src/storage/clickhouse-logins.ts); the client appends the format.
const isLoginCheck = (s: Statement) => /^SELECT 1\s+FORMAT JSONEachRow$/.test(s.statement);
const day = (d: number, h = 12) => new Date(Date.UTC(2026, 10, d, h)).toISOString();
const RANGE = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

let dir: string;
let logFile: string;
let bridge: Bridge;

before(async () => {
  dir = await tempDir('palisade-ch-users-');
  logFile = path.join(dir, 'statements.jsonl');
  bridge = await Bridge.start({
    args: ['--users', [ADMIN, INGEST, QUERY].map((l) => `${l.user}:${l.password}`).join(','), '--custom-settings-prefixes', 'SQL_', '--log', logFile],
  });
});

after(async () => {
  await bridge?.stop();
  if (bridge) await removeDir(bridge.dir);
  if (dir) await removeDir(dir);
});

async function statements(database: string): Promise<Statement[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Statement)
    .filter((s) => s.database === database);
}

function env(database: string, extra: Record<string, string>): Record<string, string> {
  return {
    CLICKHOUSE_URL: bridge.url,
    CLICKHOUSE_USER: ADMIN.user,
    CLICKHOUSE_PASSWORD: ADMIN.password,
    CLICKHOUSE_DATABASE: database,
    CLICKHOUSE_TIMEOUT_MS: '10000',
    ...extra,
  };
}

/** Two tenants' events in, one bad event (a warning) too; every query call counted with its tenant, in order. */
async function exercise(p: Palisade): Promise<{ a: CreatedTenant; b: CreatedTenant; queried: string[] }> {
  const [a, b] = [await createTenant(p, 'acme'), await createTenant(p, 'globex')];
  const batchA = [
    // A client-chosen messageId: the flusher looks it up among stored events (the duplicate
    // check, as the ingest user); server-generated ids skip that lookup.
    { type: 'track', event: 'Signed Up', userId: 'u1', timestamp: day(20), messageId: `client-${randomUUID()}` },
    { type: 'track', event: 'Purchased', userId: 'u1', timestamp: day(21), properties: { price: 20 } },
    { type: 'page', name: 'Home', anonymousId: 'x1', timestamp: day(21), properties: { path: '/' } },
    { type: 'track', event: 'Broken', userId: 'u2', timestamp: 'not a time' },
  ];
  const ra = await p.api<{ accepted: number }>('POST', '/v1/batch', { body: { batch: batchA }, headers: basic(a.keys.ingest) });
  assert.equal(ra.body.accepted, 3, JSON.stringify(ra.body));
  const rb = await p.api('POST', '/v1/batch', { body: { batch: [{ type: 'track', event: 'Other', userId: 'v1', timestamp: day(22) }] }, headers: basic(b.keys.ingest) });
  assert.equal(rb.status, 200, rb.text);

  const queried: string[] = [];
  const query = async (who: CreatedTenant, body: unknown) => {
    const r = await p.api<Record<string, unknown>>('POST', '/v1/query', { body, headers: basic(who.keys.query) });
    assert.equal(r.status, 200, r.text);
    queried.push(who.tenant.id);
    return r.body;
  };
  const total = async (who: CreatedTenant) => (await query(who, { kind: 'trend', ...RANGE })).total;
  await waitFor(async () => (await total(a)) === 3 && (await total(b)) === 1, 15_000, 'both tenants\' events to be queryable');
  await query(a, { kind: 'top', ...RANGE, by: { field: 'event' } });
  await query(b, { kind: 'events', ...RANGE, limit: 5 });
  await query(a, { kind: 'funnel', ...RANGE, steps: [{ event: 'Signed Up' }, { event: 'Purchased' }] });
  await query(a, { kind: 'schema', ...RANGE });
  const warnings = await waitFor(async () => {
    const w = (await query(a, { kind: 'warnings' })) as { items: unknown[] };
    return w.items.length > 0 && w;
  }, 15_000, 'the bad event\'s warning to be queryable');
  assert.ok(warnings.items.length >= 1);
  return { a, b, queried };
}

const isWrite = (sql: string) => /^\s*(INSERT|ALTER|CREATE|DROP|DELETE|TRUNCATE|RENAME|OPTIMIZE|BACKUP|RESTORE|GRANT|REVOKE|SYSTEM)\b/i.test(sql);

describe('with CLICKHOUSE_QUERY_USER and CLICKHOUSE_INGEST_USER', () => {
  const DB = 'palisade_split';
  let p: Palisade;
  let run: Awaited<ReturnType<typeof exercise>>;

  before(async () => {
    p = await startPalisade({
      env: env(DB, {
        CLICKHOUSE_QUERY_USER: QUERY.user,
        CLICKHOUSE_QUERY_PASSWORD: QUERY.password,
        CLICKHOUSE_INGEST_USER: INGEST.user,
        CLICKHOUSE_INGEST_PASSWORD: INGEST.password,
        // PALISADE_QUERY_TENANT_SETTING unset: a query login turns SQL_palisade_tenant on.
      }),
    });
    run = await exercise(p);
  });

  after(async () => {
    await p?.kill();
    if (p) await removeDir(p.dataDir);
  });

  test('every query-API statement arrives as the query user, with its tenant in SQL_palisade_tenant', async () => {
    const all = await statements(DB);
    const asQuery = all.filter((s) => s.user === QUERY.user);
    const queries = asQuery.filter((s) => !isLoginCheck(s));
    // One statement per query call, in the same order, each with the caller's tenant.
    assert.deepEqual(queries.map((s) => s.settings.SQL_palisade_tenant), run.queried);
    assert.ok(run.queried.includes(run.a.tenant.id) && run.queried.includes(run.b.tenant.id));
    for (const s of queries) {
      assert.equal(s.settings.readonly, '1', s.statement);
      assert.match(s.statement, /^\s*(SELECT|WITH)\b/i);
    }
    // The other way round: whatever carries the query service's settings came as the query user.
    for (const s of all.filter((x) => x.settings.readonly === '1' || 'SQL_palisade_tenant' in x.settings)) assert.equal(s.user, QUERY.user, s.statement);
    // The start-up login check is the only other statement, without a tenant: nothing to fence.
    assert.equal(asQuery.filter(isLoginCheck).length, 1);
  });

  test('nothing is written as the query user; events, dead letters and warnings as the ingest user; DDL and the control plane as CLICKHOUSE_USER', async () => {
    const all = await statements(DB);
    assert.deepEqual(all.filter((s) => s.user === QUERY.user && isWrite(s.statement)), []);
    const eventInserts = all.filter((s) => /^INSERT INTO events\b/.test(s.statement));
    assert.ok(eventInserts.length >= 1, 'the flusher inserted events');
    for (const s of eventInserts) assert.equal(s.user, INGEST.user);
    const warningInserts = all.filter((s) => /^INSERT INTO ingestion_warnings\b/.test(s.statement));
    assert.ok(warningInserts.length >= 1, 'the warnings ledger wrote');
    for (const s of warningInserts) assert.equal(s.user, INGEST.user);
    const dedup = all.filter((s) => /^SELECT tenant_id, message_id FROM events/.test(s.statement));
    assert.ok(dedup.length >= 1);
    for (const s of dedup) assert.equal(s.user, INGEST.user);
    // The ingest user does only those: its three INSERT targets and the duplicate check.
    for (const s of all.filter((x) => x.user === INGEST.user && !isLoginCheck(x))) {
      assert.match(s.statement, /^(INSERT INTO (events|dead_letters|ingestion_warnings) (\([a-z_, ]+\) )?FORMAT JSON(Compact)?EachRow|SELECT tenant_id, message_id FROM events\b)/, s.statement);
    }
    const ddl = all.filter((s) => /^CREATE TABLE\b/i.test(s.statement));
    assert.ok(ddl.length >= 8);
    for (const s of ddl) assert.equal(s.user, ADMIN.user);
    const control = all.filter((s) => /^INSERT INTO (tenants|api_keys|audit_log|schema_migrations)\b/.test(s.statement));
    assert.ok(control.length >= 3);
    for (const s of control) assert.equal(s.user, ADMIN.user);
  });

  test('what each login sends is allowed by its settings profile in ops/clickhouse', async () => {
    const all = await statements(DB);
    const query = profileSettings(await opsStatements('query-user.sql'), 'palisade_query_profile');
    const ingest = profileSettings(await opsStatements('ingest-user.sql'), 'palisade_ingest_profile');
    assert.equal(query.get('readonly')?.value, '1');
    for (const [login, profile] of [[QUERY.user, query], [INGEST.user, ingest]] as const) {
      const sent = all.filter((s) => s.user === login);
      assert.ok(sent.length > 0, login);
      for (const s of sent) assert.deepEqual(settingViolations(profile, s.settings), [], `${login}: ${s.statement.slice(0, 80)}`);
    }
    // The check is real: a setting the app does not send, or a value past a ceiling, is refused.
    assert.equal(settingViolations(query, { max_rows_to_read: '0' }).length, 1);
    assert.equal(settingViolations(query, { max_execution_time: '600' }).length, 1);
    assert.equal(settingViolations(query, { allow_ddl: '1' }).length, 1);
  });

  test('the start-up log names the login of each role, never a password', () => {
    const line = p.output.find((l) => l.includes('palisade listening'));
    assert.ok(line);
    assert.deepEqual((JSON.parse(line) as { clickhouseUsers: unknown }).clickhouseUsers, { admin: ADMIN.user, ingest: INGEST.user, query: QUERY.user });
    for (const secret of [ADMIN.password, INGEST.password, QUERY.password]) assert.ok(!p.output.join('\n').includes(secret));
  });
});

describe('without them', () => {
  const DB = 'palisade_single';
  let p: Palisade;
  let run: Awaited<ReturnType<typeof exercise>>;

  before(async () => {
    p = await startPalisade({ env: env(DB, { PALISADE_QUERY_TENANT_SETTING: 'SQL_palisade_tenant' }) });
    run = await exercise(p);
  });

  after(async () => {
    await p?.kill();
    if (p) await removeDir(p.dataDir);
  });

  test('everything arrives as CLICKHOUSE_USER, queries still with their tenant setting', async () => {
    const all = await statements(DB);
    assert.ok(all.length > 50);
    assert.deepEqual([...new Set(all.map((s) => s.user))], [ADMIN.user]);
    const queries = all.filter((s) => s.settings.readonly === '1');
    assert.deepEqual(queries.map((s) => s.settings.SQL_palisade_tenant), run.queried);
  });
});

describe('misconfiguration', () => {
  test('a query login ClickHouse refuses stops start-up, naming the variable, not the password', async () => {
    const dataDir = await tempDir();
    try {
      await assert.rejects(
        startPalisade({ dataDir, env: env('palisade_refused', { CLICKHOUSE_QUERY_USER: QUERY.user, CLICKHOUSE_QUERY_PASSWORD: 'wrong-password-xyz' }) }),
        (err: Error) => {
          assert.match(err.message, /CLICKHOUSE_QUERY_USER: ClickHouse refused a query as palisade_query \(code 516\)/);
          assert.ok(!err.message.includes('wrong-password-xyz'));
          return true;
        },
      );
    } finally {
      await removeDir(dataDir);
    }
  });

  test('on the embedded engine the logins are ignored, and the log says so', async () => {
    const p = await startPalisade({ env: { CLICKHOUSE_QUERY_USER: QUERY.user, CLICKHOUSE_QUERY_PASSWORD: QUERY.password } });
    try {
      const line = p.output.find((l) => l.includes('ignored without CLICKHOUSE_URL'));
      assert.ok(line, p.output.join('\n'));
      assert.deepEqual((JSON.parse(line) as { ignored: string[] }).ignored, ['CLICKHOUSE_QUERY_USER']);
      assert.ok(!p.output.join('\n').includes(QUERY.password));
    } finally {
      await p.kill();
      await removeDir(p.dataDir);
    }
  });
});
