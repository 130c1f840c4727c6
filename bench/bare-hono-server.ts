/**
 * The framework alone: Hono on @hono/node-server (Palisade's stack) with the
 * bare server's TLS settings and one route that reads the body and answers
 * 200 {"success":true}: no middleware, no auth, no pipeline. Its row in the
 * ingest table shows how much of the ceiling the framework itself leaves.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { generateSelfSigned } from '../src/tls/certificate.ts';

const { cert, key } = await generateSelfSigned();
const app = new Hono();
app.post('/v1/:path', async (c) => {
  await c.req.arrayBuffer();
  return c.json({ success: true });
});
const server = createAdaptorServer({ fetch: app.fetch, createServer: https.createServer, serverOptions: { cert, key, minVersion: 'TLSv1.2' } });
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
