import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { requestHeader } from './request-headers.ts';
import type { Env } from './types.ts';

const NAMES = ['authorization', 'content-type', 'user-agent', 'origin', 'x-forwarded-for', 'dnt', 'x-absent', 'cf-ipcountry'];

function app(): Hono<Env> {
  const a = new Hono<Env>();
  // Ours first, then Hono's (which builds an undici Headers): they must agree on every name.
  a.all('*', (c) => c.json({ ours: NAMES.map((n) => requestHeader(c, n) ?? null), hono: NAMES.map((n) => c.req.header(n) ?? null) }));
  return a;
}

test('on the Node server, requestHeader answers as Hono does, repeated headers included', async () => {
  const server = serve({ fetch: app().fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  try {
    // Raw header pairs, so names repeat (fetch would merge them first).
    const raw = [
      'Host', `127.0.0.1:${port}`,
      'Authorization', 'Basic first', 'authorization', 'Basic second',
      'Content-Type', 'text/plain', 'User-Agent', '  spaced agent  ',
      'X-Forwarded-For', '203.0.113.9', 'X-Forwarded-For', '198.51.100.7, 10.0.0.1',
      'Origin', 'https://shop.example', 'DNT', '1', 'CF-IPCountry', 'NZ',
    ];
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: raw }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end('x');
    });
    const { ours, hono } = JSON.parse(body) as { ours: (string | null)[]; hono: (string | null)[] };
    assert.deepEqual(ours, hono);
    assert.equal(ours[0], 'Basic first, Basic second', 'both Authorization values, as Headers joins them (never only the first)');
    assert.equal(ours[6], null);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('in-process (no Node request), requestHeader reads the Request', async () => {
  const res = await app().request('/', { headers: { authorization: 'Bearer t', origin: 'https://a.example' } });
  const { ours, hono } = (await res.json()) as { ours: (string | null)[]; hono: (string | null)[] };
  assert.deepEqual(ours, hono);
  assert.equal(ours[0], 'Bearer t');
});
