/**
 * The end-to-end ingestion scenarios, written once and run against each
 * ClickHouse backend (test/ingest.int.test.ts: embedded chDB;
 * test/server-path.int.test.ts: @clickhouse/client against a server): events
 * in through every /v1 route, durable, flushed, and found in ClickHouse with
 * the right tenant, corrected timestamps and no duplicates.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Backend } from './clickhouse-backend.ts';
import { basic, createTenant, removeDir, startPalisade, stats, waitFor, type CreatedTenant, type Palisade } from './palisade.ts';

export function ingestSuite(label: string, makeBackend: () => Promise<Backend>): void {
  let backend: Backend;
  let p: Palisade;
  let a: CreatedTenant;
  let b: CreatedTenant;
  const batchIds: string[] = [];
  const singleIds: Record<string, string> = {};
  const skewId = randomUUID();

  before(async () => {
    backend = await makeBackend();
    p = await startPalisade({ env: backend.env() });
    a = await createTenant(p, 'acme');
    b = await createTenant(p, 'bravo');
  });

  after(async () => {
    if (p.proc.exitCode === null) await p.kill();
    await backend.close();
    await removeDir(p.dataDir);
  });

  describe(`ingestion through ${label}`, () => {
    test('1,000 events through /v1/batch are acknowledged and queryable within 2 seconds', async () => {
      for (let chunk = 0; chunk < 10; chunk++) {
        const batch = Array.from({ length: 100 }, (_, i) => {
          const messageId = randomUUID();
          batchIds.push(messageId);
          return { type: 'track', event: 'Signed Up', userId: `u${chunk * 100 + i}`, messageId, properties: { plan: 'pro', n: i } };
        });
        const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: basic(a.keys.ingest) });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { success: true });
      }
      const acked = Date.now();
      const s = await waitFor(async () => {
        const s = await stats(p, a.tenant.id);
        return s.events >= 1000 && s;
      }, 2_000, '1,000 events in ClickHouse');
      assert.equal(s.events, 1000);
      assert.ok(Date.now() - acked <= 2_000);
      assert.ok(s.bytesOnDisk > 0);
      assert.ok(s.lastEventAt && Date.parse(s.lastEventAt) > Date.now() - 60_000);
    });

    test('the same batch sent twice is stored once', async () => {
      const batch = batchIds.slice(0, 100).map((messageId, i) => ({ type: 'track', event: 'Signed Up', userId: `u${i}`, messageId, properties: { plan: 'pro', n: i } }));
      const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: basic(a.keys.ingest) });
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 600));
      assert.equal((await stats(p, a.tenant.id)).events, 1000);
    });

    test('every single-event route accepts its type, with each credential form', async () => {
      const token = a.keys.ingest;
      const keyId = token.slice(7, 23);
      const password = token.slice(24);
      const auths = [
        basic(token),
        { authorization: `Bearer ${token}` },
        { authorization: `Basic ${Buffer.from(`${keyId}:${password}`).toString('base64')}` },
      ];
      const bodies: Record<string, object> = {
        track: { event: 'Clicked', userId: 'u1', properties: { button: 'buy' } },
        page: { name: 'Home', anonymousId: 'anon-1', properties: { path: '/' } },
        screen: { name: 'Main', userId: 'u1' },
        identify: { userId: 'u1', traits: { email_domain: 'example.com' } },
        group: { userId: 'u1', groupId: 'g1', traits: { plan: 'team' } },
        alias: { userId: 'u1', previousId: 'anon-1' },
      };
      let i = 0;
      for (const [type, body] of Object.entries(bodies)) {
        const messageId = randomUUID();
        singleIds[type] = messageId;
        const r = await p.api('POST', `/v1/${type}`, { body: { ...body, messageId }, headers: auths[i++ % auths.length] });
        assert.equal(r.status, 200, `${type}: ${r.text}`);
        assert.deepEqual(r.body, { success: true });
      }
    });

    test('a client clock an hour behind is corrected with sentAt', async () => {
      const clientNow = Date.now() - 3_600_000;
      const r = await p.api('POST', '/v1/track', {
        body: { event: 'Skewed', userId: 'u1', messageId: skewId, timestamp: new Date(clientNow - 5_000).toISOString(), sentAt: new Date(clientNow).toISOString() },
        headers: basic(a.keys.ingest),
      });
      assert.equal(r.status, 200, r.text);
    });

    test("a payload naming another tenant still lands in the key's own tenant", async () => {
      const r = await p.api('POST', '/v1/batch', {
        body: { batch: [{ type: 'track', event: 'Sneaky', userId: 'u1', context: { tenant_id: b.tenant.id, tenantId: b.tenant.id }, properties: { tenant_id: b.tenant.id } }] },
        headers: { ...basic(a.keys.ingest), 'x-tenant-id': b.tenant.id },
      });
      assert.equal(r.status, 200, r.text);
      await new Promise((res) => setTimeout(res, 600));
      assert.equal((await stats(p, b.tenant.id)).events, 0);
    });

    test('a bad event in a good batch is rejected alone, with its index and reason', async () => {
      const r = await p.api<{ success: boolean; accepted: number; rejected: { index: number; code: string }[] }>('POST', '/v1/batch', {
        body: { batch: [{ type: 'track', event: 'Fine', userId: 'u1' }, { type: 'track', userId: 'u1' }, { type: 'track', event: 'Bad', userId: 'u1', properties: JSON.parse('{"__proto__":{"x":1}}') }] },
        headers: basic(a.keys.ingest),
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.accepted, 1);
      assert.deepEqual(r.body.rejected.map((x) => [x.index, x.code]), [[1, 'invalid_event'], [2, 'forbidden_key']]);
    });

    test('what landed: right tenant, corrected timestamps, no duplicates, warnings recorded', async () => {
      const code = await p.stop();
      assert.equal(code, 0, 'graceful shutdown exits 0');
      const wh = await backend.open(p.dataDir);
      try {
        const perTenant = await wh.query<{ tenant_id: string; n: string; u: string }>('SELECT tenant_id, count() n, uniqExact(message_id) u FROM events FINAL GROUP BY tenant_id');
        assert.deepEqual(perTenant.map((r) => [r.tenant_id, Number(r.n), Number(r.u)]), [[a.tenant.id, 1000 + 6 + 1 + 1 + 1, 1009]]);
        const types = await wh.query<{ type: string; message_id: string; key_id: string }>(
          'SELECT type, message_id, key_id FROM events WHERE message_id IN {ids:Array(String)} ORDER BY type',
          { params: { ids: Object.values(singleIds) } },
        );
        assert.deepEqual(types.map((t) => [t.type, t.message_id]), Object.entries(singleIds).sort().map(([t, id]) => [t, id]));
        assert.ok(types.every((t) => t.key_id === a.keys.ingest.slice(7, 23)));
        const [skew] = await wh.query<{ ts: string; rec: string; orig: string }>(
          "SELECT toUnixTimestamp64Milli(timestamp) ts, toUnixTimestamp64Milli(received_at) rec, toUnixTimestamp64Milli(original_timestamp) orig FROM events WHERE message_id = {m:String}",
          { params: { m: skewId } },
        );
        assert.ok(skew);
        // timestamp = original + (receivedAt - sentAt) = receivedAt - 5 s (network time aside).
        assert.ok(Math.abs(Number(skew.rec) - 5_000 - Number(skew.ts)) < 2_000, JSON.stringify(skew));
        assert.ok(Number(skew.rec) - Number(skew.orig) > 3_500_000);
        const [sneaky] = await wh.query<{ c: string }>("SELECT toJSONString(context) c FROM events WHERE event = 'Sneaky'");
        assert.ok(sneaky, 'the sneaky event landed in tenant A');
        const warnings = await wh.query<{ tenant_id: string; code: string; batch_index: number }>('SELECT tenant_id, code, batch_index FROM ingestion_warnings ORDER BY batch_index');
        assert.deepEqual(warnings.map((w) => [w.tenant_id, w.code, Number(w.batch_index)]), [[a.tenant.id, 'invalid_event', 1], [a.tenant.id, 'forbidden_key', 2]]);
      } finally {
        await wh.close();
      }
    });
  });
}
