/**
 * The HTTPS listener's graceful shutdown: drain() waits for exactly the
 * requests that were in flight when it was called (a request that arrives
 * while draining is answered, with Connection: close, and not waited for),
 * and gives up at its deadline.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Hono } from 'hono';
import { Agent, request } from 'undici';
import { generateSelfSigned } from '../tls/certificate.ts';
import { listenHttps, type Listener } from './listen.ts';
import type { Env } from './types.ts';

let listener: Listener;
let agent: Agent;
/** Requests to /hold wait here until released, by name. */
const held = new Map<string, () => void>();

before(async () => {
  const app = new Hono<Env>();
  app.get('/hold/:name', async (c) => {
    await new Promise<void>((resolve) => held.set(c.req.param('name'), resolve));
    return c.json({ done: c.req.param('name') });
  });
  const { cert, key } = await generateSelfSigned();
  listener = await listenHttps(app, { host: '127.0.0.1', port: 0, cert, key });
  agent = new Agent({ connect: { ca: cert }, connections: 8 });
});

after(async () => {
  await listener?.close(Date.now() + 1_000);
  await agent?.close();
});

function get(name: string) {
  return request(`https://127.0.0.1:${listener.port}/hold/${name}`, { dispatcher: agent }).then(async (r) => ({ status: r.statusCode, connection: r.headers.connection, body: await r.body.text() }));
}

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(what(), 'timed out');
}

test('drain waits for the requests in flight at the call, not for those that come after, and stops at its deadline', async () => {
  const first = get('first');
  await until(() => held.has('first'));
  let drained: boolean | undefined;
  const draining = listener.drain(Date.now() + 5_000).then((ok) => (drained = ok));

  // A request that arrives while draining is answered, told to close, and not waited for.
  const late = get('late');
  await until(() => held.has('late'));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(drained, undefined, 'still waiting for the first request');

  held.get('first')?.();
  assert.equal((await first).status, 200);
  await draining;
  assert.equal(drained, true, 'drained once the first request finished, with the late one still open');

  held.get('late')?.();
  const answered = await late;
  assert.equal(answered.status, 200);
  assert.equal(answered.connection, 'close');

  // A second drain with a request that never finishes gives up at its deadline.
  const stuck = get('stuck');
  await until(() => held.has('stuck'));
  assert.equal(await listener.drain(Date.now() + 100), false);
  held.get('stuck')?.();
  await stuck;
});
