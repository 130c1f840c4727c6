/**
 * The CLI's HTTPS requests against a real TLS server on an ephemeral port:
 * the certificate it is told to trust and no other (unless told not to
 * check), the body it sends, and the two timeouts that keep a command from
 * hanging on a server that stops answering.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { generateSelfSigned } from '../tls/certificate.ts';
import { httpsRequest, readText } from './https-request.ts';

let server: Server;
let base: string;
let ca: string;
let otherCa: string;

before(async () => {
  const own = await generateSelfSigned();
  ca = own.cert;
  otherCa = (await generateSelfSigned()).cert;
  server = createServer({ cert: own.cert, key: own.key }, (req, res) => {
    if (req.url === '/silent') return; // never answers
    if (req.url === '/stall') {
      res.writeHead(200);
      res.write('first chunk\n'); // and nothing more
      return;
    }
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null, length: req.headers['content-length'] ?? null, body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const timeouts = { headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 };

test('sends the method, headers and body, and reads the answer, trusting the given certificate', async () => {
  const body = JSON.stringify({ name: 'ünïcode' });
  const res = await httpsRequest(`${base}/echo`, { method: 'PATCH', ca, headers: { authorization: 'Bearer t' }, body, ...timeouts });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(JSON.parse(await readText(res)), { method: 'PATCH', auth: 'Bearer t', length: String(Buffer.byteLength(body)), body });
});

test('refuses a server whose certificate is not the one to trust, unless told not to check', async () => {
  await assert.rejects(httpsRequest(`${base}/echo`, { ca: otherCa, ...timeouts }), /self[- ]signed|unable to verify|certificate/i);
  const res = await httpsRequest(`${base}/echo`, { ca: otherCa, rejectUnauthorized: false, ...timeouts });
  assert.equal(res.statusCode, 201);
  await readText(res);
});

test('gives up on a server that never answers, and on a body that stalls', async () => {
  await assert.rejects(httpsRequest(`${base}/silent`, { ca, headersTimeoutMs: 200, bodyTimeoutMs: 5_000 }), /no response within 200 ms/);
  const res = await httpsRequest(`${base}/stall`, { ca, headersTimeoutMs: 5_000, bodyTimeoutMs: 200 });
  assert.equal(res.statusCode, 200);
  await assert.rejects(readText(res), /stalled for 200 ms/);
});

test('a refused connection rejects with the reason', async () => {
  await assert.rejects(httpsRequest('https://127.0.0.1:1/', { ca, ...timeouts }), /ECONNREFUSED/);
});
