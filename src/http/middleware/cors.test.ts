import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { createLogger } from '../../log/index.ts';
import { onError } from '../errors.ts';
import type { Env } from '../types.ts';
import { allowOrigin, cors } from './cors.ts';

const ALLOWED = 'https://ok.example';
const preflight = { allowMethods: 'GET, POST', allowHeaders: 'authorization, content-type', maxAgeSeconds: 600 };

function app(refuse: boolean): Hono<Env> {
  const a = new Hono<Env>();
  a.onError(onError(createLogger('silent')));
  a.use('*', async (c, next) => {
    c.set('requestId', 'req-1');
    await next();
  });
  const mw = cors({
    origin: (o) => o === ALLOWED,
    exposeHeaders: 'X-Request-Id, Retry-After',
    preflight,
    ...(refuse ? { refuse: (o: string | undefined) => new AppError(ErrorCode.ORIGIN_NOT_ALLOWED, o === undefined ? 'no origin' : 'refused') } : {}),
  });
  a.options('/r', mw);
  a.post('/r', mw, (c) => c.json({ ran: true }));
  a.get('/public', (c) => {
    allowOrigin(c, '*');
    return c.json({});
  });
  return a;
}

const headersOf = (r: Response) => ({
  origin: r.headers.get('access-control-allow-origin'),
  expose: r.headers.get('access-control-expose-headers'),
  vary: r.headers.get('vary'),
});

describe('cors', () => {
  test('an allowed origin: readable, with the exposed headers and Vary: Origin; its preflight is answered', async () => {
    const r = await app(true).request('/r', { method: 'POST', headers: { origin: ALLOWED } });
    assert.equal(r.status, 200);
    assert.deepEqual(headersOf(r), { origin: ALLOWED, expose: 'X-Request-Id, Retry-After', vary: 'Origin' });
    const pre = await app(true).request('/r', { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.deepEqual(
      [pre.headers.get('access-control-allow-methods'), pre.headers.get('access-control-allow-headers'), pre.headers.get('access-control-max-age'), pre.headers.get('vary')],
      ['GET, POST', 'authorization, content-type', '600', 'Origin'],
    );
  });

  test('refusing policy: another origin is 403 on the request and the preflight, with no CORS headers', async () => {
    for (const method of ['POST', 'OPTIONS']) {
      const r = await app(true).request('/r', { method, headers: { origin: 'https://evil.example' } });
      assert.equal(r.status, 403, method);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'origin_not_allowed');
      assert.equal(r.headers.get('access-control-allow-origin'), null);
    }
    const noOrigin = await app(true).request('/r', { method: 'OPTIONS' });
    assert.equal(((await noOrigin.json()) as { error: { message: string } }).error.message, 'no origin');
  });

  test('passing policy: another origin reaches the route unreadable; its preflight is refused', async () => {
    const r = await app(false).request('/r', { method: 'POST', headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 200);
    assert.deepEqual(headersOf(r), { origin: null, expose: null, vary: null });
    const pre = await app(false).request('/r', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    assert.equal(pre.status, 403);
  });

  test('no Origin (not a cross-origin browser call): the route runs, no CORS headers', async () => {
    const r = await app(true).request('/r', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.deepEqual(headersOf(r), { origin: null, expose: null, vary: null });
  });

  test('allowOrigin("*") for a public asset: no Vary, nothing exposed', async () => {
    const r = await app(true).request('/public');
    assert.deepEqual(headersOf(r), { origin: '*', expose: null, vary: null });
  });
});
