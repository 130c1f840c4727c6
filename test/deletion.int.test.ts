/**
 * Deletion on request and retention, on the real engine: a GDPR deletion
 * removes the user, the ids aliased into it and its anonymous history (also
 * from dead_letters) and nothing of anyone else; a shorter retention deletes
 * older data at once and keeps doing so; a tenant deletion revokes its keys
 * at once and leaves every other tenant's rows byte-for-byte as they were,
 * while its audit trail stays.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { partitionSums } from '../src/ops/backup-plan.ts';
import type { ChdbWarehouse } from '../src/storage/chdb-warehouse.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { basic, createTenant, removeDir, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const ENV = { PALISADE_BACKUP_INTERVAL: 'off', PALISADE_RETENTION_INTERVAL: '1s' };
const DAY = 86_400_000;
let p: Palisade;
let a: CreatedTenant;
let b: CreatedTenant;
let bBefore: { sums: unknown; parts: string[] };

interface Line {
  record: string;
  data?: { user_id?: string; anonymous_id?: string; event?: string; message_id?: string; row?: string };
}
interface Entry {
  action: string;
  outcome: string;
  target: string;
  details: Record<string, unknown>;
}

interface Link {
  id: string;
  kind: string;
  how: string;
  from?: string;
  keyId?: string;
}
interface Receipt {
  receiptId: string;
  eventsDeleted: number;
  deadLettersDeleted: number;
  backupId: string;
  linkedIds: { userIds: number; anonymousIds: number };
  followed: Link[];
  notFollowed: Link[];
  perId: { id: string; kind: string; events: number }[];
}

/** The key id inside a token: pal_sk_<id>_… or pal_pk_<id>. */
const keyIdOf = (token: string) => token.slice(7, 23);
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as T;
}

async function exported(token: string): Promise<Line[]> {
  const r = await p.api('GET', '/v1/export', { headers: bearer(token) });
  assert.equal(r.status, 200, r.text);
  return r.text.trim().split('\n').map((l) => JSON.parse(l) as Line);
}

async function trail(token: string): Promise<Entry[]> {
  const r = await p.api<{ entries: Entry[] }>('GET', '/v1/audit?limit=1000', { headers: bearer(token) });
  assert.equal(r.status, 200, r.text);
  return r.body.entries;
}

/** Tenant B's rows (checksums per partition) and the files of its parts. */
async function tenantSnapshot(wh: ChdbWarehouse, tenantId: string): Promise<{ sums: unknown; parts: string[] }> {
  const parts = await wh.query<{ h: string }>(
    `SELECT hash_of_all_files AS h FROM system.parts WHERE database = 'palisade' AND table = 'events' AND active
     AND startsWith(partition, concat('(''', {t:String}, ''',')) ORDER BY h`,
    { params: { t: tenantId } },
  );
  const ids = await wh.query<{ p: string }>('SELECT DISTINCT _partition_id AS p FROM events WHERE tenant_id = {t:String}', { params: { t: tenantId } });
  return { sums: await partitionSums(wh, 'palisade', 'events', ids.map((x) => x.p)), parts: parts.map((x) => x.h) };
}

before(async () => {
  p = await startPalisade({ env: ENV });
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const ev = (e: Record<string, unknown>) => ({ type: 'track', event: 'Clicked', ...e });
  const alpha = [
    { type: 'page', name: 'Home', anonymousId: 'a1' },
    { type: 'page', name: 'Pricing', anonymousId: 'a1' },
    { type: 'identify', userId: 'u1', anonymousId: 'a1', traits: { email: 'u1@example.com' } },
    ev({ userId: 'u1' }),
    ev({ userId: 'u1' }),
    { type: 'alias', userId: 'u1', previousId: 'u1-old' },
    ev({ userId: 'u1-old' }),
    ev({ userId: 'u2', anonymousId: 'a1' }), // a shared device: u2's, not u1's
    ev({ userId: 'u2' }),
    { type: 'page', name: 'Blog', anonymousId: 'a2' },
    ev({ userId: 'old', event: 'Old', timestamp: iso(40 * DAY) }),
    ev({ userId: 'old3', event: 'Old3', timestamp: iso(3 * DAY) }),
  ];
  const beta = [ev({ userId: 'u1' }), ev({ userId: 'u1' }), ev({ userId: 'u9', timestamp: iso(40 * DAY) })];
  assert.equal((await p.api('POST', '/v1/batch', { body: { batch: alpha }, headers: basic(a.keys.ingest) })).status, 200);
  assert.equal((await p.api('POST', '/v1/batch', { body: { batch: beta }, headers: basic(b.keys.ingest) })).status, 200);
  await waitFor(async () => (await stats(p, a.tenant.id)).events === 12 && (await stats(p, b.tenant.id)).events === 3, 5_000, 'events stored');

  // Dead letters (tenant data too) can only be planted with the server stopped.
  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    const dl = (tenant: string, id: string, user: string, anon: string) =>
      JSON.stringify({ tenant_id: tenant, at: '2026-01-01 00:00:00.000', message_id: id, reason: 'test', row: JSON.stringify({ tenant_id: tenant, message_id: id, user_id: user, anonymous_id: anon }) });
    const rows = [dl(a.tenant.id, 'd1', 'u1', ''), dl(a.tenant.id, 'd2', '', 'a1'), dl(a.tenant.id, 'd3', 'u2', ''), dl(b.tenant.id, 'd4', 'u1', '')];
    await wh.command("INSERT INTO dead_letters SELECT tenant_id, now64(3), message_id, reason, row FROM format(JSONEachRow, {p:String})", { params: { p: rows.join('\n') } });
    bBefore = await tenantSnapshot(wh, b.tenant.id);
  } finally {
    await wh.close();
  }
  p = await startPalisade({ dataDir: p.dataDir, env: ENV });
});

after(async () => {
  if (p.proc.exitCode === null) await p.kill();
  await removeDir(p.dataDir);
});

test('GDPR deletion removes the user, its aliases and anonymous history, and leaves other users intact', async () => {
  const r = json<{ receipt: Receipt }>(
    await p.cli(['user', 'delete', 'u1', '--tenant', a.tenant.id, '--json']),
  );
  assert.match(r.receipt.receiptId, /^del_/);
  assert.equal(r.receipt.eventsDeleted, 7);
  assert.equal(r.receipt.deadLettersDeleted, 2);
  assert.deepEqual(r.receipt.linkedIds, { userIds: 2, anonymousIds: 2 });
  assert.match(r.receipt.backupId, /^bak_/);
  // Every id followed, and the secret key that linked it (all of alpha's events came with its ingest key).
  const ingestKeyId = keyIdOf(a.keys.ingest);
  assert.deepEqual(
    r.receipt.followed.map((l) => `${l.kind}:${l.id}:${l.how}:${l.keyId ?? '-'}`).sort(),
    ['anonymousId:a1:seen_with:' + ingestKeyId, 'anonymousId:u1-old:alias:' + ingestKeyId, 'userId:u1-old:alias:' + ingestKeyId, 'userId:u1:requested:-'].sort(),
  );
  assert.deepEqual(r.receipt.notFollowed, []);
  assert.deepEqual(Object.fromEntries(r.receipt.perId.map((x) => [`${x.kind}:${x.id}`, x.events])), { 'userId:u1': 4, 'userId:u1-old': 1, 'anonymousId:a1': 2, 'anonymousId:u1-old': 0 });

  // Gone from queries at once.
  const lines = await exported(a.keys.query);
  const left = lines.filter((l) => l.record === 'event').map((l) => `${l.data?.user_id}/${l.data?.anonymous_id}`).sort();
  assert.deepEqual(left, ['/a2', 'old/', 'old3/', 'u2/', 'u2/a1']);
  const dead = lines.filter((l) => l.record === 'dead_letter').map((l) => l.data?.message_id);
  assert.deepEqual(dead, ['d3']);
  const theirs = (await exported(b.keys.query)).filter((l) => l.record !== 'tenant' && l.record !== 'end');
  assert.deepEqual(theirs.map((l) => l.data?.user_id ?? JSON.parse(l.data?.row ?? '{}').user_id).sort(), ['u1', 'u1', 'u1', 'u9'], "the same user id in another tenant is another person");

  const entry = (await trail(a.keys.query)).find((e) => e.action === 'user.delete');
  assert.equal(entry?.target, r.receipt.receiptId);
  assert.equal(entry?.details.backupId, r.receipt.backupId);
  assert.match(String(entry?.details.subject), /^[0-9a-f]{16}$/);
  // Match the id as a whole JSON string: random ids in the entry may contain "u1" by chance.
  assert.ok(!JSON.stringify(entry).includes('"u1"'), 'the trail never holds the user id');
});

test("the alias attack: links a publishable key asserted are claims, listed by --dry-run and never followed; only Alice's own events go", async () => {
  const origin = 'https://shop.example';
  const g = await createTenant(p, 'gamma', [origin]);
  const browser = (body: unknown) => p.api('POST', '/v1/batch', { body, headers: { origin } });
  const track = (e: Record<string, unknown>) => ({ type: 'track', event: 'Viewed', ...e });
  // Bob and Carol, visitors of the same site, with events of their own.
  assert.equal((await browser({ writeKey: g.keys.browser, batch: [track({ userId: 'bob' }), track({ userId: 'bob' }), track({ anonymousId: 'anon-carol' }), track({ anonymousId: 'anon-carol' })] })).status, 200);
  // The attack: anyone can read the publishable key from the page and plant links.
  const attack = { writeKey: g.keys.browser, batch: [{ type: 'alias', userId: 'alice', previousId: 'bob' }, { type: 'track', event: 'x', userId: 'alice', anonymousId: 'anon-carol' }] };
  assert.equal((await browser(attack)).status, 200);
  await waitFor(async () => (await stats(p, g.tenant.id)).events === 6, 5_000, "gamma's events stored");

  const plan = json<{ plan: { events: number; followed: Link[]; notFollowed: Link[]; perId: { id: string; kind: string; events: number }[] } }>(
    await p.cli(['user', 'delete', 'alice', '--tenant', g.tenant.id, '--dry-run', '--json']),
  );
  assert.equal(plan.plan.events, 2);
  assert.deepEqual(plan.plan.followed, [{ id: 'alice', kind: 'userId', how: 'requested' }]);
  const browserKeyId = keyIdOf(g.keys.browser);
  assert.deepEqual(
    plan.plan.notFollowed.map((l) => `${l.kind}:${l.id}:${l.how}:${l.from}:${l.keyId}`).sort(),
    [`anonymousId:anon-carol:seen_with:alice:${browserKeyId}`, `userId:bob:alias:alice:${browserKeyId}`],
  );
  assert.deepEqual(plan.plan.perId, [{ id: 'alice', kind: 'userId', events: 2 }]);
  assert.equal((await stats(p, g.tenant.id)).events, 6, 'a dry run deletes nothing');

  const r = json<{ receipt: Receipt }>(await p.cli(['user', 'delete', 'alice', '--tenant', g.tenant.id, '--json']));
  assert.equal(r.receipt.eventsDeleted, 2);
  assert.deepEqual(r.receipt.linkedIds, { userIds: 1, anonymousIds: 0 });
  assert.equal(r.receipt.notFollowed.length, 2);
  const left = (await exported(g.keys.query)).filter((l) => l.record === 'event').map((l) => `${l.data?.user_id}/${l.data?.anonymous_id}`).sort();
  assert.deepEqual(left, ['/anon-carol', '/anon-carol', 'bob/', 'bob/'], "Bob's and Carol's own events are all still there");

  // The same link sent by the tenant's own server (secret ingest key) is followed, with that key in the receipt;
  // an anonymous id the person shows to be theirs is followed when the request names it.
  const server = [{ type: 'alias', userId: 'dave', previousId: 'dave-old' }, track({ userId: 'dave-old' }), track({ userId: 'dave' })];
  assert.equal((await p.api('POST', '/v1/batch', { body: { batch: server }, headers: basic(g.keys.ingest) })).status, 200);
  assert.equal((await browser({ writeKey: g.keys.browser, batch: [track({ anonymousId: 'dave-phone' })] })).status, 200);
  await waitFor(async () => (await stats(p, g.tenant.id)).events === 8, 5_000, "dave's events stored");
  const d = json<{ receipt: Receipt }>(await p.cli(['user', 'delete', 'dave', '--tenant', g.tenant.id, '--anonymous-id', 'dave-phone', '--json']));
  assert.equal(d.receipt.eventsDeleted, 4);
  assert.deepEqual(
    d.receipt.followed.map((l) => `${l.kind}:${l.id}:${l.how}:${l.keyId ?? '-'}`).sort(),
    ['anonymousId:dave-old:alias:' + keyIdOf(g.keys.ingest), 'anonymousId:dave-phone:named:-', 'userId:dave-old:alias:' + keyIdOf(g.keys.ingest), 'userId:dave:requested:-'].sort(),
  );
  assert.equal((await stats(p, g.tenant.id)).events, 4);
  const entry = (await trail(g.keys.query)).find((e) => e.action === 'user.delete.plan');
  assert.equal(entry?.outcome, 'ok');
  assert.ok(!JSON.stringify(await trail(g.keys.query)).includes('"alice"'), 'the trail never holds the user id');
});

test('a shorter retention deletes older data at once (after a backup) and keeps enforcing it', async () => {
  const r = json<{ retention: { previousDays: number; retentionDays: number; backupId: string; enforced: { partitionsDropped: number; rowsDeleted: number } } }>(
    await p.cli(['tenant', 'update', a.tenant.id, '--retention-days', '2', '--json']),
  );
  assert.deepEqual([r.retention.previousDays, r.retention.retentionDays], [0, 2]);
  assert.match(r.retention.backupId, /^bak_/);
  assert.ok(r.retention.enforced.partitionsDropped >= 1, 'the month 40 days ago is dropped whole');
  const users = (await exported(a.keys.query)).filter((l) => l.record === 'event').map((l) => l.data?.user_id);
  assert.ok(!users.includes('old') && !users.includes('old3'));
  assert.equal(users.length, 3);
  assert.equal((await stats(p, b.tenant.id)).events, 3, "B's retention is B's own");

  // An event that arrives already older than the retention goes on the next run.
  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'Late', userId: 'late', timestamp: iso(5 * DAY) }, headers: basic(a.keys.ingest) })).status, 200);
  const enforced = await waitFor(async () => (await trail(a.keys.query)).find((e) => e.action === 'retention.enforce'), 8_000, 'the periodic retention run');
  assert.equal(enforced.details.rowsDeleted, 1);
  const after = await exported(a.keys.query);
  // This once failed on a loaded machine: a periodic run that overlapped the change above had
  // claimed the change's row, so the entry waited for was not the late event's. Runs are now
  // exclusive (src/ops/retention.test.ts); should it fail again, say what was there.
  assert.ok(
    !after.some((l) => l.data?.user_id === 'late'),
    `the late event is still exported after the run that deleted 1 row:\n${JSON.stringify(after.filter((l) => l.data?.user_id === 'late'))}\n` +
      `retention entries: ${JSON.stringify((await trail(a.keys.query)).filter((e) => e.action.startsWith('retention.')).map((e) => e.details))}\n` +
      p.output.filter((l) => /flush|retention|spool/.test(l)).slice(-20).join('\n'),
  );

  const update = (await trail(a.keys.query)).find((e) => e.action === 'retention.update');
  assert.deepEqual([update?.details.previousDays, update?.details.retentionDays, update?.details.backupId], [0, 2, r.retention.backupId]);
});

test("a tenant deletion revokes its keys at once, drops its data, keeps its trail, and leaves other tenants' bytes untouched", async () => {
  const refused = await p.cli(['tenant', 'delete', a.tenant.id]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--yes/);

  const r = json<{ receipt: { receiptId: string; eventsDeleted: number; partitionsDropped: number; keysRevoked: number; backupId: string } }>(
    await p.cli(['tenant', 'delete', a.tenant.id, '--yes', '--json']),
  );
  assert.equal(r.receipt.eventsDeleted, 3);
  assert.ok(r.receipt.partitionsDropped >= 1);
  assert.equal(r.receipt.keysRevoked, 3);
  assert.match(r.receipt.backupId, /^bak_/);

  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'x', userId: 'u' }, headers: basic(a.keys.ingest) })).status, 401);
  assert.equal((await p.api('GET', '/v1/audit', { headers: bearer(a.keys.query) })).status, 401);
  assert.equal((await p.admin('GET', `/admin/tenants/${a.tenant.id}`)).status, 404);
  const kept = await p.admin<{ entries: Entry[] }>('GET', `/admin/tenants/${a.tenant.id}/audit?limit=1000`);
  const del = kept.body.entries.find((e) => e.action === 'tenant.delete');
  assert.deepEqual([del?.outcome, del?.target, del?.details.backupId], ['ok', r.receipt.receiptId, r.receipt.backupId]);
  assert.ok(kept.body.entries.some((e) => e.action === 'tenant.create'), 'the trail outlives the tenant');

  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    const count = async (sql: string) => Number((await wh.query<{ n: string }>(sql, { params: { t: a.tenant.id } }))[0]?.n);
    for (const [table, col] of [['events', 'tenant_id'], ['dead_letters', 'tenant_id'], ['api_keys', 'tenant_id'], ['tenants', 'id'], ['tenant_settings', 'tenant_id'], ['support_grants', 'tenant_id'], ['ingestion_warnings', 'tenant_id']]) {
      assert.equal(await count(`SELECT count() AS n FROM ${table} WHERE ${col} = {t:String}`), 0, `${table} still holds the tenant`);
    }
    assert.ok((await count('SELECT count() AS n FROM audit_log WHERE tenant_id = {t:String}')) > 5);
    assert.equal(await count('SELECT count() AS n FROM deletion_receipts WHERE tenant_id = {t:String}'), 2);
    assert.deepEqual(await tenantSnapshot(wh, b.tenant.id), bBefore, "tenant B's rows and part files are as they were");
    assert.equal(await count("SELECT count() AS n FROM dead_letters WHERE message_id = 'd4'"), 1);
  } finally {
    await wh.close();
  }
});
