import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
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

describe('anyLabel (the /v1/* tracking routes): the body decides, not its label', () => {
  const any = { anyLabel: true };
  const labels = ['application/json', 'application/json; charset=utf-8', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'application/octet-stream', undefined];
  const encodings: [string | undefined, (b: Buffer) => Buffer][] = [[undefined, (b) => b], ['gzip', gzipSync], ['deflate', deflateSync]];

  for (const label of labels) {
    for (const [encoding, encode] of encodings) {
      test(`JSON labelled ${label ?? '(no content-type)'}${encoding ? ` with content-encoding ${encoding}` : ''} parses`, async () => {
        const headers = new Headers();
        if (label) headers.set('content-type', label);
        if (encoding) headers.set('content-encoding', encoding);
        const r = new Request('https://x/v1/batch', { method: 'POST', body: new Uint8Array(encode(Buffer.from('{"batch":[{"type":"track"}]}'))), headers });
        if (!label) assert.equal(r.headers.get('content-type'), null, 'a byte body gets no implicit label');
        assert.deepEqual(await readJsonBody(r, limits, undefined, any), { batch: [{ type: 'track' }] });
      });
    }
  }

  test('a body that is not JSON: 415 under a non-JSON label, 400 invalid_json when the label said JSON', async () => {
    const form = req('event=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(await code(readJsonBody(form, limits, undefined, any)), 'unsupported_media_type');
    assert.equal(await code(readJsonBody(req('<xml/>', { 'content-type': 'application/xml' }), limits, undefined, any)), 'unsupported_media_type');
    assert.equal(await code(readJsonBody(req('{"a":'), limits, undefined, any)), 'invalid_json');
    assert.equal(await code(readJsonBody(req('{"a":', { 'content-type': 'application/vnd.api+json' }), limits, undefined, any)), 'invalid_json');
    // Empty is empty whatever the label; caps and encodings keep their own codes.
    assert.equal(await code(readJsonBody(req('', { 'content-type': 'text/plain' }), limits, undefined, any)), 'invalid_json');
    assert.equal(await code(readJsonBody(req('x'.repeat(2000), { 'content-type': 'text/plain' }), limits, undefined, any)), 'payload_too_large');
    assert.equal(await code(readJsonBody(req('not gzip', { 'content-type': 'text/plain', 'content-encoding': 'gzip' }), limits, undefined, any)), 'invalid_encoding');
  });

  test('without anyLabel a non-JSON body stays a 400 invalid_json (the query and admin APIs check the label first)', async () => {
    assert.equal(await code(readJsonBody(req('event=x', { 'content-type': 'application/x-www-form-urlencoded' }), limits)), 'invalid_json');
  });
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

test("the request's own header key as a batch body's top-level writeKey is Segment's server SDK envelope: accepted; anywhere else it is refused", async () => {
  const sk = 'pal_sk_AbCdEfGh12345678_0123456789abcdefghijklXYZ123';
  const other = 'pal_sk_ZyXwVuTs87654321_0123456789abcdefghijklXYZ123';
  const big = { maxBodyBytes: 4096, maxDecompressedBytes: 4096 };
  const read = (body: unknown, headerToken?: string) => code(readJsonBody(req(JSON.stringify(body)), big, undefined, { headerToken }));
  // @segment/analytics-node 3.x: {"batch":[…],"writeKey":"<key>","sentAt":…} beside Authorization: Basic <key>:
  assert.equal(await read({ batch: [{ type: 'track', event: 'x', userId: 'u' }], writeKey: sk, sentAt: '2026-01-01T00:00:00Z' }, sk), 'ok');
  assert.equal(await read({ batch: [], writeKey: sk }), 'forbidden', 'no header key: the body key is refused');
  assert.equal(await read({ event: 'x', userId: 'u', writeKey: sk }, sk), 'forbidden', 'a single-event body is no batch envelope');
  assert.equal(await read({ batch: [], writeKey: other }, sk), 'forbidden', 'another key than the header one');
  assert.equal(await read({ batch: [{ type: 'track', event: 'x', userId: 'u', writeKey: sk }] }, sk), 'forbidden', 'a per-event writeKey, even the header key');
  assert.equal(await read({ event: 'x', userId: 'u', properties: { k: sk } }, sk), 'forbidden', 'inside event data, even the header key');
  assert.equal(await read({ batch: [{ type: 'track', event: 'x', userId: 'u', properties: { k: sk } }], writeKey: sk }, sk), 'forbidden', 'the envelope plus a second copy');
});

describe("a Node request's body, read from the socket", { timeout: 10_000 }, () => {
  // A plain HTTP server whose every request's body goes through readJsonBody with its IncomingMessage.
  const outcomes: Promise<string>[] = [];
  const server = http.createServer((incoming, res) => {
    const request = new Request('https://x/v1/track', { method: 'POST', headers: incoming.headers as Record<string, string> });
    const outcome = readJsonBody(request, limits, incoming).then(
      (v) => JSON.stringify(v),
      (err: unknown) => (err instanceof AppError ? err.code : `error ${(err as NodeJS.ErrnoException).code ?? String(err)}`),
    );
    outcomes.push(outcome);
    void outcome.then((o) => res.writeHead(200, { connection: 'close' }).end(o));
  });
  let port = 0;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  /** Writes a request by hand (chunked, or cut short) and waits until the server has read it: its socket and the read's outcome. */
  async function raw(bytes: string): Promise<{ sock: net.Socket; outcome: Promise<string> }> {
    const at = outcomes.length;
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write(bytes);
    await waitUntil(() => outcomes.length > at);
    return { sock, outcome: outcomes[at] as Promise<string> };
  }

  test('a body in one or many chunks parses, on a keep-alive connection too', async () => {
    const agent = new http.Agent({ keepAlive: true });
    for (const chunks of [['{"a":1}'], ['{"a"', ':', '2}']]) {
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.request(`http://127.0.0.1:${port}/`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let out = '';
          res.setEncoding('utf8').on('data', (d: string) => (out += d)).on('end', () => resolve(out));
        });
        req.on('error', reject);
        for (const c of chunks) req.write(c);
        req.end();
      });
      assert.equal(text, JSON.stringify(JSON.parse(chunks.join(''))));
    }
    agent.destroy();
  });

  test('a chunked body over the cap (no Content-Length to refuse it early) is a 413 once the cap is passed', async () => {
    const { sock, outcome } = await raw(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${`200\r\n${'x'.repeat(512)}\r\n`.repeat(3)}`);
    assert.equal(await outcome, 'payload_too_large');
    sock.destroy();
  });

  test('a client that goes away mid-body rejects the read (no hang, no partial body parsed)', async () => {
    const { sock, outcome } = await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
    sock.destroy();
    // The error the stream itself reports (what the async iterator rejected with before).
    assert.equal(await outcome, 'error ECONNRESET');
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'timed out');
}
