/**
 * The SDK's delivery rules against a scripted HTTP server (the real Palisade
 * cannot be made to answer 429/503/413 on demand): batching, gzip, auth,
 * retries and their limits, rejections, drops, flush and shutdown.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Palisade } from './client.ts';
import type { DropReason, Event, PalisadeOptions, Rejection } from './types.ts';

interface Seen {
  at: number;
  headers: IncomingMessage['headers'];
  batch: { messageId: string; event?: string }[];
}
type Reply = (seen: Seen, n: number) => { status: number; headers?: Record<string, string>; body?: unknown };

let server: Server;
let host: string;
let seen: Seen[] = [];
let reply: Reply = () => ({ status: 200, body: { success: true } });

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const json = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const s: Seen = { at: Date.now(), headers: req.headers, batch: (JSON.parse(json.toString()) as { batch: Seen['batch'] }).batch };
      seen.push(s);
      const r = reply(s, seen.length);
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(JSON.stringify(r.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  seen = [];
  reply = () => ({ status: 200, body: { success: true } });
});

function client(o: Partial<PalisadeOptions> = {}) {
  const drops: { reason: DropReason; ids: string[] }[] = [];
  const rejections: { event: Event; r: Rejection }[] = [];
  const c = new Palisade({
    token: 'pal_sk_test',
    host,
    flushInterval: 50,
    retryDelay: 20,
    onDrop: (events, reason) => drops.push({ reason, ids: events.map((e) => e.messageId) }),
    onRejected: (event, r) => rejections.push({ event, r }),
    ...o,
  });
  return { c, drops, rejections };
}

const delivered = () => seen.flatMap((s) => s.batch.map((e) => e.messageId));

test('batches by count, gzip, Basic auth with the key as user, every event once', async () => {
  const { c } = client({ flushAt: 10 });
  for (let i = 0; i < 25; i++) assert.equal(c.track({ userId: 'u1', event: `E${i}`, properties: { i } }), true);
  await c.shutdown();
  assert.deepEqual(seen.map((s) => s.batch.length), [10, 10, 5]);
  assert.equal(seen[0]?.headers['content-encoding'], 'gzip');
  assert.equal(seen[0]?.headers.authorization, `Basic ${Buffer.from('pal_sk_test:').toString('base64')}`);
  assert.equal(new Set(delivered()).size, 25);
  assert.deepEqual(c.stats(), { enqueued: 25, delivered: 25, rejected: 0, dropped: 0, retries: 0, queued: 0, inFlight: 0 });
});

test('batches by bytes too', async () => {
  const { c } = client({ flushAt: 1000, maxBatchBytes: 4_000 });
  for (let i = 0; i < 10; i++) c.track({ userId: 'u1', event: 'Big', properties: { s: 'x'.repeat(1_000) } });
  await c.flush();
  assert.ok(seen.length >= 3 && seen.every((s) => s.batch.length <= 3), JSON.stringify(seen.map((s) => s.batch.length)));
  assert.equal(delivered().length, 10);
  await c.shutdown();
});

test('429 and 503 are retried no sooner than Retry-After; network errors are retried', async () => {
  reply = (_s, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : n === 2 ? { status: 503 } : { status: 200, body: { success: true } });
  const { c, drops } = client();
  c.track({ userId: 'u1', event: 'Retry Me' });
  await c.shutdown();
  assert.equal(seen.length, 3);
  assert.ok((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0) >= 990, 'waited for Retry-After');
  assert.equal(new Set(delivered()).size, 1, 'the same messageId each time');
  assert.equal(c.stats().retries, 2);
  assert.deepEqual(drops, []);

  const { c: down, drops: downDrops } = client({ host: 'http://127.0.0.1:1', maxAttempts: 3 });
  down.track({ userId: 'u1', event: 'Nowhere' });
  await down.shutdown();
  assert.equal(downDrops[0]?.reason, 'retries_exhausted');
  assert.equal(down.stats().retries, 2);
});

test('other 4xx answers are never retried: the events are dropped and reported', async () => {
  reply = () => ({ status: 401, body: { error: { code: 'invalid_credential' } } });
  const { c, drops } = client();
  c.track({ userId: 'u1', event: 'Bad Key' });
  await c.shutdown();
  assert.equal(seen.length, 1);
  assert.equal(drops[0]?.reason, 'client_error');
  assert.equal(c.stats().dropped, 1);
});

test('an event rejected inside a 200 is surfaced once and not retried', async () => {
  reply = () => ({ status: 200, body: { success: true, accepted: 1, rejected: [{ index: 1, code: 'forbidden_key', message: 'properties: the key __proto__ is not allowed' }] } });
  const { c, rejections } = client();
  c.track({ userId: 'u1', event: 'Fine' });
  c.track({ userId: 'u1', event: 'Refused' });
  await c.shutdown();
  assert.equal(seen.length, 1);
  assert.deepEqual(rejections.map((x) => [x.event.type === 'track' && x.event.event, x.r.code]), [['Refused', 'forbidden_key']]);
  assert.equal(c.stats().delivered, 1);
  assert.equal(c.stats().rejected, 1);
});

test('invalid events are rejected before sending, against the shared wire schema', async () => {
  const { c, rejections } = client();
  // @ts-expect-error: a track without event name is a type error too
  assert.equal(c.track({ userId: 'u1' }), false);
  assert.equal(c.identify({ traits: { a: 1 } }), false, 'no userId or anonymousId');
  await c.shutdown();
  assert.equal(seen.length, 0);
  assert.deepEqual(rejections.map((x) => x.r.code), ['invalid_event', 'invalid_event']);
});

test('a full queue drops new events and says so', async () => {
  reply = () => ({ status: 503 });
  const { c, drops } = client({ maxQueueSize: 5, flushAt: 100, maxInFlight: 1 });
  const results = Array.from({ length: 8 }, (_, i) => c.track({ userId: 'u1', event: `E${i}` }));
  assert.deepEqual(results, [true, true, true, true, true, false, false, false]);
  assert.deepEqual(drops.map((d) => d.reason), ['queue_full', 'queue_full', 'queue_full']);
  await c.shutdown({ timeout: 100 });
});

test('a 413 splits the batch until it fits', async () => {
  reply = (s) => (s.batch.length > 2 ? { status: 413 } : { status: 200, body: { success: true } });
  const { c, drops } = client({ flushAt: 8 });
  for (let i = 0; i < 8; i++) c.track({ userId: 'u1', event: `E${i}` });
  await c.shutdown();
  assert.equal(new Set(delivered()).size, 8);
  assert.equal(c.stats().delivered, 8);
  assert.deepEqual(drops, []);
});

test('flush waits for its events; shutdown waits for retries; a shutdown deadline reports what it abandons', async () => {
  let slow = true;
  reply = () => (slow ? { status: 503, headers: { 'retry-after': '0.3' } } : { status: 200, body: { success: true } });
  const { c } = client();
  c.track({ userId: 'u1', event: 'Patience' });
  setTimeout(() => (slow = false), 500);
  await c.flush();
  assert.equal(c.stats().delivered, 1);
  await c.shutdown();

  reply = () => ({ status: 503 });
  const { c: stuck, drops } = client({ retryDelay: 1_000 });
  stuck.track({ userId: 'u1', event: 'Never' });
  const started = Date.now();
  await stuck.shutdown({ timeout: 300 });
  assert.ok(Date.now() - started < 1_500);
  assert.deepEqual(drops.map((d) => d.reason), ['shutdown']);
  assert.equal(stuck.track({ userId: 'u1', event: 'Late' }), false);
  assert.deepEqual(drops.map((d) => d.reason), ['shutdown', 'shutdown']);
});
