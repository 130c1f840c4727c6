/**
 * The ceiling: a bare node:https server on the same TLS settings that reads
 * the body and answers 200 {"success":true} without doing anything else.
 * Whatever Palisade achieves is measured against this, in the same run.
 *   node --import tsx bench/bare-server.ts          the ceiling
 *   node --import tsx bench/bare-server.ts hono     the framework alone: the same through
 *                                                   Hono on @hono/node-server (Palisade's stack),
 *                                                   one route, no middleware, auth or pipeline
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { generateSelfSigned } from '../src/tls/certificate.ts';

const { cert, key } = await generateSelfSigned();
const tls = { cert, key, minVersion: 'TLSv1.2' } as const;

function honoServer(): https.Server {
  const app = new Hono();
  app.post('/v1/:path', async (c) => {
    await c.req.arrayBuffer();
    return c.json({ success: true });
  });
  return createAdaptorServer({ fetch: app.fetch, createServer: https.createServer, serverOptions: tls }) as https.Server;
}

const server =
  process.argv[2] === 'hono'
    ? honoServer()
    : https.createServer(tls, (req, res) => {
        req.on('data', () => undefined);
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"success":true}');
        });
      });
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
