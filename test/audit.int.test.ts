/**
 * The audit log on the real engine: what gets recorded (admin actions,
 * aggregated auth failures and ingestion, query calls), who can read it
 * (a tenant only its own trail), and tamper evidence: rows altered, removed
 * or reordered directly in ClickHouse (server stopped) are each named by
 * verification, and rows removed from the end are caught by the anchor.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readAnchors } from '../src/audit/audit-log.ts';
import type { AuditRow } from '../src/audit/chain.ts';
import { verifyAudit } from '../src/audit/trail.ts';
import { newSecretToken } from '../src/auth/tokens.ts';
import { openDataDir } from './helpers/data-dir.ts';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

const NODE = 'edge-a';
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

interface Entry {
  tenantId: string;
  action: string;
  actor: string;
  outcome: string;
  clientIp: string;
  target: string;
  details: Record<string, unknown>;
  hash: string;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const keyIdOf = (token: string) => token.slice(7, 23);

async function trail(token: string, q = ''): Promise<Entry[]> {
  const r = await p.api<{ entries: Entry[] }>('GET', `/v1/audit?limit=1000${q}`, { headers: bearer(token) });
  assert.equal(r.status, 200, r.text);
  return r.body.entries;
}

test('admin actions and query calls land in the trail; a tenant reads only its own', async () => {
  a = await createTenant(p, 'alpha');
  b = await createTenant(p, 'beta');
  const key = await p.admin<{ key: { id: string } }>('POST', `/admin/tenants/${a.tenant.id}/keys`, { scope: 'ingest' });
  assert.equal(key.status, 201);
  assert.equal((await p.admin('DELETE', `/admin/keys/${key.body.key.id}`)).status, 200);
  assert.equal((await p.api('GET', '/v1/query/schema', { headers: bearer(a.keys.query) })).status, 200);

  const mine = await waitFor(async () => {
    const e = await trail(a.keys.query);
    return e.some((x) => x.action === 'query') && e;
  }, 5_000, 'the query call in the trail');
  const actions = mine.map((e) => e.action);
  for (const want of ['tenant.create', 'key.create', 'key.revoke', 'query']) assert.ok(actions.includes(want), `${want} in ${actions}`);
  assert.ok(mine.every((e) => e.tenantId === a.tenant.id), 'only the caller tenant');
  const create = mine.find((e) => e.action === 'key.create');
  assert.match(create?.actor ?? '', /^admin:adm_[0-9a-f]{12}$/);
  assert.equal(create?.target, key.body.key.id);
  assert.ok(!JSON.stringify(mine).includes('pal_sk_'), 'no token ever reaches the trail');
  const q = mine.find((e) => e.action === 'query');
  assert.equal(q?.actor, `key:${keyIdOf(a.keys.query)}`);
  assert.equal(q?.details.kind, 'schema');

  const theirs = await trail(b.keys.query);
  assert.ok(theirs.length > 0 && theirs.every((e) => e.tenantId === b.tenant.id));
  assert.ok(!theirs.some((e) => mine.some((m) => m.hash === e.hash)));

  // Only a query key reads the trail; nothing in the request can name another tenant.
  assert.equal((await p.api('GET', '/v1/audit', { headers: bearer(a.keys.ingest) })).status, 403);
  assert.equal((await p.api('GET', '/v1/audit')).status, 401);
  const named = await p.api<{ entries: Entry[] }>('GET', `/v1/audit?tenant=${b.tenant.id}&tenant_id=${b.tenant.id}`, { headers: bearer(a.keys.query) });
  assert.ok(named.body.entries.every((e) => e.tenantId === a.tenant.id));

  const exported = await p.cli(['audit', 'export', '--tenant', a.tenant.id, '--since', '1h']);
  assert.equal(exported.code, 0, exported.stderr);
  const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as Entry);
  assert.ok(lines.length >= mine.length);
  assert.ok(lines.every((e) => e.tenantId === a.tenant.id));

  const verified = await p.cli(['audit', 'verify']);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /audit log intact: \d+ entries in 1 chain/);
});

test('failed authentications and accepted events are aggregated per key (or IP) and minute', async () => {
  const keyId = keyIdOf(a.keys.ingest);
  const wrong = newSecretToken(keyId).token;
  for (let i = 0; i < 15; i++) assert.equal((await p.api('POST', '/v1/track', { body: { event: 'x', userId: 'u' }, headers: basic(wrong) })).status, 401);
  for (let i = 0; i < 15; i++) assert.equal((await p.api('POST', '/v1/track', { body: { event: 'x', userId: 'u' }, headers: basic('pal_sk_garbage') })).status, 401);
  const badAdmin = await p.cli(['tenant', 'list'], { PALISADE_ADMIN_TOKEN: 'pal_admin_wrong' });
  assert.equal(badAdmin.code, 1);
  for (let i = 0; i < 3; i++) {
    assert.equal((await p.api('POST', '/v1/batch', { body: { batch: [{ type: 'track', event: 'e', userId: `u${i}` }, { type: 'track', event: 'e', userId: 'v' }] }, headers: basic(a.keys.ingest) })).status, 200);
  }
  // SIGTERM: the audit log writes the current minute's aggregates before exit.
  assert.equal(await p.stop(), 0);
  const wh = await openDataDir(p.dataDir);
  try {
    const failures = await wh.query<{ actor: string; tenant_id: string; details: string; client_ip: string }>(
      "SELECT actor, tenant_id, details, client_ip FROM audit_log WHERE action = 'auth.failure' ORDER BY actor",
    );
    const count = (pred: (d: { reason: string; count: number }, r: (typeof failures)[number]) => boolean) =>
      failures.reduce((n, r) => {
        const d = JSON.parse(r.details) as { reason: string; count: number };
        return pred(d, r) ? n + d.count : n;
      }, 0);
    assert.equal(count((d, r) => d.reason === 'wrong_secret' && r.actor === `key:${keyId}` && r.tenant_id === a.tenant.id), 15);
    assert.equal(count((d, r) => d.reason === 'malformed' && r.actor === 'anonymous'), 15);
    assert.equal(count((d) => d.reason === 'admin_token'), 1);
    // 30 refusals, at most a few rows (two minutes at most, per IP/key/reason).
    assert.ok(failures.length <= 6, `${failures.length} rows`);
    assert.ok(failures.every((f) => f.client_ip !== ''));

    const ingested = await wh.query<{ details: string; tenant_id: string }>("SELECT details, tenant_id FROM audit_log WHERE action = 'ingest.accepted'");
    const events = ingested.reduce((n, r) => n + (JSON.parse(r.details) as { events: number }).events, 0);
    assert.equal(events, 6);
    assert.ok(ingested.every((r) => r.tenant_id === a.tenant.id));
    assert.ok(ingested.every((r) => (JSON.parse(r.details) as { distinctIps: number }).distinctIps === 1));
  } finally {
    await wh.close();
  }
});

test('rows altered, removed or reordered in the table are each named; a removed tail is caught', async () => {
  const wh = await openDataDir(p.dataDir);
  let tailHead: number;
  try {
    const verify = async () => verifyAudit(wh, await readAnchors(p.dataDir));
    assert.equal((await verify()).ok, true);
    const row = async (seq: number) =>
      (await wh.query<AuditRow>('SELECT * FROM audit_log WHERE node_id = {n:String} AND seq = {s:UInt64}', { params: { n: NODE, s: seq } }))[0] as AuditRow;
    const del = (seqs: number[]) =>
      wh.command('ALTER TABLE audit_log DELETE WHERE node_id = {n:String} AND seq IN {s:Array(UInt64)}', { params: { n: NODE, s: seqs }, settings: { mutations_sync: 2 } });
    const put = (rows: AuditRow[]) =>
      wh.insertJson('audit_log', Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n')), { settings: { insert_deduplicate: 0 } });

    // Altered: one field of entry 3.
    const r3 = await row(3);
    await wh.command("ALTER TABLE audit_log UPDATE outcome = 'denied' WHERE node_id = {n:String} AND seq = 3", { params: { n: NODE }, settings: { mutations_sync: 2 } });
    let v = await verify();
    assert.equal(v.ok, false);
    assert.deepEqual([v.firstProblem?.kind, v.firstProblem?.seq], ['altered', 3]);
    await wh.command('ALTER TABLE audit_log UPDATE outcome = {o:String} WHERE node_id = {n:String} AND seq = 3', { params: { n: NODE, o: r3.outcome }, settings: { mutations_sync: 2 } });
    assert.equal((await verify()).ok, true);

    // Removed: entry 4.
    const r4 = await row(4);
    await del([4]);
    v = await verify();
    assert.deepEqual([v.firstProblem?.kind, v.firstProblem?.seq], ['removed', 4]);
    await put([r4]);
    assert.equal((await verify()).ok, true);

    // Reordered: entries 5 and 6 swap places.
    const [r5, r6] = [await row(5), await row(6)];
    await del([5, 6]);
    await put([{ ...r6, seq: 5 }, { ...r5, seq: 6 }]);
    v = await verify();
    assert.deepEqual([v.firstProblem?.kind, v.firstProblem?.seq], ['reordered', 5]);
    await del([5, 6]);
    await put([r5, r6]);
    assert.equal((await verify()).ok, true);

    // The newest two removed: the chain alone cannot tell, the anchor can.
    const head = Number((await wh.query<{ m: string }>('SELECT max(seq) AS m FROM audit_log WHERE node_id = {n:String}', { params: { n: NODE } }))[0]?.m);
    await del([head - 1, head]);
    v = await verify();
    assert.deepEqual([v.firstProblem?.kind, v.firstProblem?.seq], ['truncated', head - 1]);
    tailHead = head;
  } finally {
    await wh.close();
  }

  // The next start notices and says so in the chain itself, so the removal
  // stays visible after the anchor moves on.
  p = await startPalisade({ dataDir: p.dataDir, env: ENV });
  assert.ok(p.output.some((l) => l.includes('audit chain does not match its anchor')));
  const r = await p.cli(['audit', 'verify']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`TAMPERED: node ${NODE}: entries ${tailHead - 1}–${tailHead} were removed while the server was stopped`));
});
