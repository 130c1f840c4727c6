/**
 * The Node SDK against a real Palisade: 10,000 events from concurrent
 * producers land exactly once; a server killed mid-stream and restarted on
 * the same data directory loses nothing; shutdown() resolves only once the
 * server has acknowledged (made durable) everything, proven by SIGKILLing the
 * server the moment it resolves and counting after a restart.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Palisade, type PalisadeOptions } from 'palisade/sdk';
import { openDataDir } from '../../test/helpers/data-dir.ts';
import { createTenant, removeDir, startPalisade, stats, tempDir, waitFor, type CreatedTenant, type Palisade as Server } from '../../test/helpers/palisade.ts';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function sdk(server: Server, t: CreatedTenant, o: Partial<PalisadeOptions> = {}) {
  const problems: string[] = [];
  const client = new Palisade({
    token: t.keys.ingest,
    host: `https://localhost:${server.apiPort}`,
    ca: await readFile(path.join(server.dataDir, 'tls', 'self-signed.crt')),
    onDrop: (events, reason, err) => problems.push(`dropped ${events.length}: ${reason} ${err?.message ?? ''}`),
    onRejected: (event, r) => problems.push(`rejected ${event.messageId}: ${r.code}`),
    ...o,
  });
  return { client, problems };
}

async function landed(dataDir: string, tenantId: string): Promise<{ rows: number; ids: Set<string> }> {
  const wh = await openDataDir(dataDir);
  try {
    const rows = await wh.query<{ message_id: string }>('SELECT message_id FROM events WHERE tenant_id = {t:String}', { params: { t: tenantId } });
    return { rows: rows.length, ids: new Set(rows.map((r) => r.message_id)) };
  } finally {
    await wh.close();
  }
}

describe('Node SDK against a real Palisade', () => {
  test('10,000 events from 4 concurrent producers on 2 clients land exactly once', async () => {
    const server = await startPalisade();
    cleanup.push(async () => {
      if (server.proc.exitCode === null) await server.kill();
      await removeDir(server.dataDir);
    });
    const t = await createTenant(server, 'node-sdk');
    const clients = [await sdk(server, t), await sdk(server, t)];
    const sent: string[] = [];
    const producer = async (n: number) => {
      const { client } = clients[n % 2] ?? clients[0]!;
      for (let i = 0; i < 2_500; i++) {
        const messageId = randomUUID();
        sent.push(messageId);
        assert.ok(client.track({ userId: `user-${n}-${i % 50}`, event: 'Order Completed', messageId, properties: { producer: n, i, total: i * 1.5 } }));
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    const started = Date.now();
    await Promise.all([0, 1, 2, 3].map(producer));
    await Promise.all(clients.map((c) => c.client.shutdown()));
    const took = Date.now() - started;
    for (const { client, problems } of clients) {
      assert.deepEqual(problems, []);
      assert.equal(client.stats().delivered, 5_000);
      assert.equal(client.stats().queued + client.stats().inFlight, 0);
    }
    await waitFor(async () => (await stats(server, t.tenant.id)).events >= 10_000, 10_000, '10,000 events');
    assert.equal((await stats(server, t.tenant.id)).events, 10_000);

    // A server-side rejection reaches onRejected, once, and is not retried.
    const { client: one, problems } = await sdk(server, t);
    one.track({ userId: 'u1', event: 'Poisoned', properties: JSON.parse('{"__proto__":{"admin":true}}') as Record<string, never> });
    one.track({ userId: 'u1', event: 'Fine' });
    await one.shutdown();
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /rejected .*: forbidden_key/);
    assert.deepEqual([one.stats().delivered, one.stats().rejected], [1, 1]);

    assert.equal(await server.stop(), 0);
    const got = await landed(server.dataDir, t.tenant.id);
    assert.equal(got.rows, 10_001, 'no duplicate rows');
    assert.ok(sent.every((id) => got.ids.has(id)));
    console.log(`# 10,000 events delivered in ${took} ms`);
  });

  test('a server killed mid-stream and restarted loses nothing; shutdown() waits for the acknowledgement', async () => {
    const dataDir = await tempDir();
    const env = { PALISADE_PORT: String(await freePort()), PALISADE_ADMIN_PORT: String(await freePort()) };
    let server = await startPalisade({ dataDir, env });
    cleanup.push(async () => {
      if (server.proc.exitCode === null) await server.kill();
      await removeDir(dataDir);
    });
    const t = await createTenant(server, 'restart');
    const { client, problems } = await sdk(server, t, { flushAt: 100, flushInterval: 100, maxRetryDelay: 1_000 });
    const sent: string[] = [];
    let restarted = false;
    const restart = (async () => {
      await waitFor(async () => sent.length >= 1_000, 10_000, 'the stream to start');
      await server.kill();
      await new Promise((r) => setTimeout(r, 500));
      server = await startPalisade({ dataDir, env });
      restarted = true;
    })();
    for (let i = 0; i < 3_000; i++) {
      const messageId = randomUUID();
      sent.push(messageId);
      client.track({ anonymousId: `anon-${i % 20}`, event: 'Heartbeat', messageId, properties: { i } });
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
    }
    await restart;
    assert.ok(restarted);
    await client.shutdown();
    assert.deepEqual(problems, []);
    assert.equal(client.stats().delivered, 3_000);
    assert.ok(client.stats().retries > 0, 'the outage was noticed and retried through');

    // Acknowledged means durable: kill -9 the instant shutdown() resolved, count after a restart.
    await server.kill();
    server = await startPalisade({ dataDir, env });
    await waitFor(async () => (await stats(server, t.tenant.id)).events >= 3_000, 10_000, '3,000 events after restart');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await stats(server, t.tenant.id)).events, 3_000);
    assert.equal(await server.stop(), 0);
    const got = await landed(dataDir, t.tenant.id);
    assert.equal(got.rows, 3_000, 'no duplicate rows');
    assert.ok(sent.every((id) => got.ids.has(id)));
  });
});
