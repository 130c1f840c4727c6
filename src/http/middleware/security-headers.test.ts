import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Env } from '../types.ts';
import { API_SECURITY_HEADERS, apiSecurityHeaders, SECURE_HEADERS_OPTIONS } from './security-headers.ts';

function app(): Hono<Env> {
  const a = new Hono<Env>();
  a.use('*', apiSecurityHeaders());
  a.get('/json', (c) => c.json({ ok: true }));
  a.get('/page', (c) => c.html('<p>hi</p>', 200, { 'Content-Security-Policy': "default-src 'self'", 'Cache-Control': 'public, max-age=60' }));
  a.get('/boom', () => {
    throw new Error('boom');
  });
  a.onError((_err, c) => c.json({ error: 'internal' }, 500));
  return a;
}

function expectedFor(headers: Headers, own: Record<string, string> = {}): void {
  for (const [name, value] of API_SECURITY_HEADERS) assert.equal(headers.get(name), own[name] ?? value, name);
}

test('the list is exactly what secureHeaders sets with the same options, plus no-store', async () => {
  const ref = new Hono();
  ref.use('*', secureHeaders({ ...SECURE_HEADERS_OPTIONS, overwrite: false }));
  ref.get('/', (c) => c.body(null, 204));
  const theirs = [...(await ref.request('/')).headers].map(([k, v]) => `${k}: ${v}`).sort();
  const ours = API_SECURITY_HEADERS.filter(([k]) => k !== 'Cache-Control').map(([k, v]) => `${k.toLowerCase()}: ${v}`).sort();
  assert.deepEqual(ours, theirs);
});

test('in-process (no Node response): every header on every response, a route keeps its own', async () => {
  const a = app();
  expectedFor((await a.request('/json')).headers);
  expectedFor((await a.request('/boom')).headers);
  expectedFor((await a.request('/nowhere')).headers);
  expectedFor((await a.request('/page')).headers, { 'Content-Security-Policy': "default-src 'self'", 'Cache-Control': 'public, max-age=60' });
});

test('on a Node server: the same headers, set on the ServerResponse, and a route still keeps its own', async () => {
  const server = serve({ fetch: app().fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const json = await fetch(`${base}/json`);
    expectedFor(json.headers);
    assert.deepEqual(await json.json(), { ok: true });
    expectedFor((await fetch(`${base}/boom`)).headers);
    expectedFor((await fetch(`${base}/nowhere`)).headers);
    const page = await fetch(`${base}/page`);
    expectedFor(page.headers, { 'Content-Security-Policy': "default-src 'self'", 'Cache-Control': 'public, max-age=60' });
    // One value each: the route's header replaced ours rather than being sent beside it.
    assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /none/);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
