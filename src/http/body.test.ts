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

test('a secret key anywhere in a body is refused with 403 forbidden, and a page about the key format is not', async () => {
  const sk = 'pal_sk_AbCdEfGh12345678_0123456789abcdefghijklXYZ123';
  const bodies = [
    JSON.stringify({ writeKey: 'pal_pk_AbCdEfGh12345678', batch: [{ type: 'track', event: 'x', userId: 'u', writeKey: sk }] }),
    JSON.stringify({ event: 'x', userId: 'u', properties: { note: `my key is ${sk}` } }),
    JSON.stringify({ event: 'x', userId: 'u', properties: { [sk]: 1 } }),
    // Only the 23-character head of a key (prefix + key id) is needed.
    JSON.stringify({ event: 'x', userId: 'u', properties: { k: sk.slice(0, 23) } }),
  ];
  for (const b of bodies) assert.equal(await code(readJsonBody(req(b), { maxBodyBytes: 4096, maxDecompressedBytes: 4096 })), 'forbidden');
  assert.equal(await code(readJsonBody(req(gzipSync(bodies[1] ?? ''), { 'content-encoding': 'gzip' }), { maxBodyBytes: 4096, maxDecompressedBytes: 4096 })), 'forbidden', 'found after decompression');
  // The prefix alone, or followed by something that is not a key id, is text.
  const doc = JSON.stringify({ event: 'Docs Viewed', properties: { title: 'Keys start with pal_sk_ then the key id', x: 'pal_sk_short' } });
  assert.equal(await code(readJsonBody(req(doc), { maxBodyBytes: 4096, maxDecompressedBytes: 4096 })), 'ok');
  try {
    await readJsonBody(req(bodies[0] ?? ''), { maxBodyBytes: 4096, maxDecompressedBytes: 4096 });
  } catch (err) {
    assert.ok(!(err as Error).message.includes(sk.slice(7)), 'the refusal never echoes the key');
  }
});
