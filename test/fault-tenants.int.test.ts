/**
 * Many tenants: 1,000 tenants sending at once, some of them
 * backfilling 150 months of history in one request. The events table is
 * partitioned by (tenant, month), so one flush cycle touches a thousand
 * partitions: the flusher must never put more than ClickHouse's
 * max_partitions_per_insert_block (100) into one INSERT, and must not create
 * parts faster than merges absorb them (system.parts is sampled throughout).
 * Nothing may stall, nothing may be dropped. Server path (bridge or the real
 * server), so the test can watch system.parts while Palisade runs.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pLimit from 'p-limit';
import { toClickHouseTime } from '../schemas/event-row.ts';
import { randomBase62 } from '../src/auth/base62.ts';
import { newKeyId, publishableKey } from '../src/auth/tokens.ts';
import { ControlPlane } from '../src/control/control-plane.ts';
import type { Warehouse } from '../src/storage/warehouse.ts';
import { serverBackend, type Backend } from './helpers/clickhouse-backend.ts';
import { finish, killAll, launch } from './helpers/drill.ts';
import { removeDir, type Palisade } from './helpers/palisade.ts';
import { assertExactlyOnce, metric, scrape, sleep, type SentRequest } from './helpers/traffic.ts';

const TENANTS = 1_000;
const ORIGIN = 'https://shop.example';
let server: Backend;
let p: Palisade;
let wh: Warehouse;

before(async () => {
  server = await serverBackend();
  p = await launch({ env: server.env() });
  wh = await server.open('');
});

after(async () => {
  await wh?.close();
  await killAll();
  await server.close();
  if (p) await removeDir(p.dataDir);
});

interface PartsSample {
  at: number;
  parts: number;
  partitions: number;
  maxInPartition: number;
}

async function sampleParts(): Promise<PartsSample> {
  const [r] = await wh.query<{ parts: number; partitions: number; m: number }>(
    `SELECT sum(c) AS parts, count() AS partitions, max(c) AS m FROM
       (SELECT partition, count() AS c FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active GROUP BY partition)`,
  );
  return { at: Date.now(), parts: Number(r?.parts ?? 0), partitions: Number(r?.partitions ?? 0), maxInPartition: Number(r?.m ?? 0) };
}

test('1,000 tenants sending at once: no INSERT over the partition limit, parts absorbed by merges, nothing stalls or is dropped', async (t) => {
  // Tenants are seeded with browser keys only (no secret, so no argon2 hash: the admin
  // API creates every scope, 3 x ~25 ms of argon2 per tenant), written in two INSERTs in
  // the control plane's row format rather than 2,000 control-plane calls (~20 s here).
  const seedStart = Date.now();
  const now = toClickHouseTime(new Date());
  const version = Date.now() * 1000;
  const tenants = Array.from({ length: TENANTS }, (_, i) => {
    const keyId = newKeyId();
    return { id: `ten_${randomBase62(12)}`, keyId, token: publishableKey(keyId), backfill: i % 100 === 7, name: `tenant-${i}` };
  });
  const rows = (f: (tn: (typeof tenants)[number]) => object) => Buffer.from(tenants.map((tn) => JSON.stringify(f(tn))).join('\n'));
  await wh.insertJson('tenants', rows((tn) => ({ id: tn.id, name: tn.name, allowed_origins: [ORIGIN], created_at: now, updated_at: now, deleted: 0, version })));
  await wh.insertJson('api_keys', rows((tn) => ({ id: tn.keyId, tenant_id: tn.id, scope: 'browser', secret_hash: '', created_at: now, revoked_at: null, version })));
  const control = new ControlPlane(wh);
  assert.equal((await control.snapshot()).keys.filter((k) => tenants.some((tn) => tn.keyId === k.id)).length, TENANTS);
  const seededMs = Date.now() - seedStart;
  const last = tenants.at(-1);
  assert.ok(last);
  // The edge refreshes its key table every 2 s.
  const headers = (token: string) => ({ authorization: `Bearer ${token}`, origin: ORIGIN });
  const requests: SentRequest[] = [];
  for (let i = 0; ; i++) {
    const probe = `probe-${randomUUID()}`;
    const r = await p.api('POST', '/v1/track', { body: { event: 'Probe', userId: 'u', messageId: probe }, headers: headers(last.token) });
    if (r.status === 200) {
      requests.push({ ids: [probe], acked: true, attempts: 1 });
      break;
    }
    assert.ok(i < 100, `the key table never picked up the seeded tenants: ${r.status} ${r.text}`);
    await sleep(100);
  }

  const samples: PartsSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await sampleParts().catch(() => ({ at: Date.now(), parts: 0, partitions: 0, maxInPartition: 0 })));
      await sleep(500);
    }
  })();

  // Three rounds over every tenant, 16 requests in flight; every 100th tenant's first
  // request is a backfill of 150 events, one per month, going back 12.5 years.
  const sendStart = Date.now();
  const pool = pLimit(16);
  const jobs = [0, 1, 2].flatMap((round) => tenants.map((tn) => ({ tn, round })));
  await Promise.all(
    jobs.map(({ tn, round }) =>
      pool(async () => {
        const backfill = tn.backfill && round === 0;
        const n = backfill ? 150 : 5;
        const ids = Array.from({ length: n }, () => randomUUID());
        const now = Date.now();
        const batch = ids.map((messageId, i) => ({
          type: 'track', event: backfill ? 'Imported' : 'Viewed', anonymousId: `a${i}`, messageId,
          ...(backfill ? { timestamp: new Date(Date.UTC(2026, 10 - i, 15, 12)).toISOString() } : {}),
          properties: { round, i },
        }));
        const req: SentRequest = { ids, acked: false, attempts: 0 };
        requests.push(req);
        while (!req.acked && req.attempts < 5) {
          req.attempts += 1;
          const r = await p.api('POST', '/v1/batch', { body: { batch, sentAt: new Date(now).toISOString() }, headers: headers(tn.token) });
          if (r.status === 200) req.acked = true;
          else await sleep(100);
        }
      }),
    ),
  );
  const sentMs = Date.now() - sendStart;
  const acked = requests.filter((r) => r.acked).reduce((n, r) => n + r.ids.length, 0);
  assert.equal(requests.filter((r) => !r.acked).length, 0, 'every request acknowledged');

  // Landed = the spool drained and the flusher has nothing left.
  const drainStart = Date.now();
  for (;;) {
    const m = await scrape(p);
    if (metric(m, 'palisade_spool_records') === 0) break;
    assert.ok(Date.now() - drainStart < 120_000, 'the spool drained');
    await sleep(200);
  }
  const drainedMs = Date.now() - drainStart;
  // Let merges work a little, then look once more.
  await sleep(3_000);
  sampling = false;
  await sampler;
  const settled = await sampleParts();
  const m = await scrape(p);
  assert.equal(p.output.filter((l) => l.includes('spool flush failed')).length, 0, 'no flush ever failed (no TOO_MANY_PARTS, no timeouts)');
  assert.equal(metric(m, 'palisade_flusher_dead_lettered_rows_total{reason="clickhouse_rejected"}') ?? 0, 0);

  const [limits] = await wh.query<{ delay: string; partitions: string }>(
    "SELECT (SELECT value FROM system.merge_tree_settings WHERE name = 'parts_to_delay_insert') AS delay, getSetting('max_partitions_per_insert_block') AS partitions",
  );
  const peak = samples.reduce((a, s) => (s.parts > a.parts ? s : a), settled);
  const peakInPartition = Math.max(settled.maxInPartition, ...samples.map((s) => s.maxInPartition));
  assert.ok(peakInPartition < Number(limits?.delay ?? 1000) / 2, `parts per partition stayed far below parts_to_delay_insert (${peakInPartition})`);
  assert.ok(settled.parts <= peak.parts, 'merges absorbed the parts');

  const r = await finish(t, '1,000 tenants', p, server, tenants.map((tn) => tn.id), requests, { reader: wh });
  t.diagnostic(
    `seeded ${TENANTS} tenants in ${seededMs} ms; sent ${requests.length} requests (${acked} events, ${tenants.filter((tn) => tn.backfill).length} backfills of 150 months) in ${sentMs} ms; ` +
      `spool drained ${drainedMs} ms after the last request; active parts: peak ${peak.parts} in ${peak.partitions} partitions (max ${peakInPartition} in one), ` +
      `${settled.parts} in ${settled.partitions} partitions after merges; max_partitions_per_insert_block ${limits?.partitions}, parts_to_delay_insert ${limits?.delay}`,
  );
  assertExactlyOnce(r);
});
