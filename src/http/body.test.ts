import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AppError } from '../errors/index.ts';
import { readJsonBody } from './body.ts';

const limits = { maxBodyBytes: 1024, maxDecompressedBytes: 4096 };

function req(body: Buffer | string, headers: Record<string, string> = {}): Request {
  return new Request('https://x/v1/track', { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'application/json', ...headers } });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err.code;
  }
}

test('plain and gzip JSON bodies parse', async () => {
  assert.deepEqual(await readJsonBody(req('{"a":1}'), limits), { a: 1 });
  assert.deepEqual(await readJsonBody(req(gzipSync('{"a":2}'), { 'content-encoding': 'gzip' }), limits), { a: 2 });
});

test('a body over the wire cap is a 413, even without Content-Length', async () => {
  assert.equal(await code(readJsonBody(req('x'.repeat(2000)), limits)), 'payload_too_large');
});

test('a gzip bomb stops at the decompressed cap', async () => {
  const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
  assert.ok(bomb.length < 1024 * 64);
  const big = { maxBodyBytes: 1 << 20, maxDecompressedBytes: 4096 };
  const before = process.memoryUsage().rss;
  assert.equal(await code(readJsonBody(req(bomb, { 'content-encoding': 'gzip' }), big)), 'payload_too_large');
  assert.ok(process.memoryUsage().rss - before < 40 * 1024 * 1024, 'memory stayed bounded');
});

test('malformed inputs get their own codes and never echo the input', async () => {
  assert.equal(await code(readJsonBody(req('{"a":'), limits)), 'invalid_json');
  assert.equal(await code(readJsonBody(req(''), limits)), 'invalid_json');
  assert.equal(await code(readJsonBody(req(Buffer.from([0x7b, 0xff, 0x7d])), limits)), 'invalid_json');
  assert.equal(await code(readJsonBody(req('not gzip', { 'content-encoding': 'gzip' }), limits)), 'invalid_encoding');
  assert.equal(await code(readJsonBody(req('{}', { 'content-encoding': 'br' }), limits)), 'unsupported_media_type');
  try {
    await readJsonBody(req('{"secret-canary":'), limits);
  } catch (err) {
    assert.ok(!(err as Error).message.includes('canary'));
  }
});
