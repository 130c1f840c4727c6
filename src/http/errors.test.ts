/**
 * How engine errors reach a caller: a value the engine refused (a bad
 * argument, a type mismatch) is the request's mistake and a 400 with a code;
 * only an engine that is away or overloaded is a 503 with Retry-After (the
 * answer that pages on-call); anything else is a bare 500.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Hono } from 'hono';
import { createLogger } from '../log/index.ts';
import { classifyCode, WarehouseError } from '../storage/warehouse.ts';
import { onError } from './errors.ts';
import type { Env } from './types.ts';

function appThrowing(err: unknown): { app: Hono<Env>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const app = new Hono<Env>();
  app.onError(onError(createLogger('info', sink)));
  app.get('/x', () => {
    throw err;
  });
  return { app, lines };
}

const engine = (code: number | undefined) => new WarehouseError(`query: Code: ${code}. DB::Exception: secret-canary`, classifyCode(code), code);

test('an engine error caused by the request (bad argument, type mismatch, unparseable value) is a 400 with a code, never 503', async () => {
  for (const code of [36, 43, 457, 53, 41, 6]) {
    const { app, lines } = appThrowing(engine(code));
    const res = await app.request('/x');
    assert.equal(res.status, 400, `ClickHouse code ${code}`);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'bad_request');
    assert.equal(res.headers.get('retry-after'), null);
    assert.ok(!body.error.message.includes('canary'), 'the engine message never reaches the caller');
    assert.ok(!lines.join('').includes('warehouse unavailable'), 'not logged as an outage');
    assert.ok(!lines.join('').includes('canary'), 'nor is the engine message logged');
  }
});

test('an engine that is away or overloaded is a 503 with Retry-After; an unknown failure is a 500', async () => {
  for (const code of [210, 209, 202, undefined]) {
    const res = await appThrowing(engine(code)).app.request('/x');
    assert.equal(res.status, 503, `ClickHouse code ${code}`);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
  }
  const res = await appThrowing(engine(60)).app.request('/x');
  assert.equal(res.status, 500);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'internal');
});
