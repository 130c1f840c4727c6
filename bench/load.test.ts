/**
 * The load generators' fresh message ids (bench/load.ts): a body with
 * MESSAGE_ID is sent with a new id in each place, on every request, by the
 * autocannon fallback and by wrk's request script alike, and is otherwise the
 * body given. The "SDK message ids" row of the ingest table relies on it: a
 * repeated id would be a duplicate the server drops, not an event.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { MESSAGE_ID, closedLoop, closedLoopRun } from './load.ts';
import { WRK, missingTool } from '../test/helpers/external-tools.ts';

const template = JSON.stringify({ batch: [0, 1, 2].map((i) => ({ type: 'track', messageId: MESSAGE_ID, event: `E${i}` })) });

/** Runs `load` against a local server for a second; returns every body it received. */
async function bodiesSent(load: (url: string) => Promise<unknown>): Promise<string[]> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await load(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/batch`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  return bodies;
}

function checkFreshIds(bodies: string[]): void {
  assert.ok(bodies.length > 10, `only ${bodies.length} requests`);
  const ids = new Set<string>();
  for (const body of bodies) {
    const events = (JSON.parse(body) as { batch: { messageId: string }[] }).batch;
    for (const e of events) {
      assert.match(e.messageId, /^[0-9a-f]{12}-\d+-\d+$/);
      assert.ok(!ids.has(e.messageId), `messageId ${e.messageId} sent twice`);
      ids.add(e.messageId);
    }
    assert.equal(body.replace(/[0-9a-f]{12}-\d+-\d+/g, MESSAGE_ID), template);
  }
  assert.equal(ids.size, bodies.length * 3);
}

test('autocannon sends fresh message ids on every request', async () => {
  checkFreshIds(await bodiesSent((url) => closedLoop(url, template, {}, 1, 2)));
});

test('wrk sends fresh message ids on every request', { skip: missingTool(WRK) }, async () => {
  const bodies = await bodiesSent((url) => closedLoopRun(url, template, {}, 1, 2));
  checkFreshIds(bodies);
});

test('a body without MESSAGE_ID is sent as given', async () => {
  const plain = JSON.stringify({ event: 'E', userId: 'u1' });
  const bodies = await bodiesSent((url) => closedLoop(url, plain, {}, 1, 1));
  assert.ok(bodies.length > 0);
  for (const b of bodies) assert.equal(b, plain);
});
