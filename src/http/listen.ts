/**
 * HTTPS listeners. TLS 1.2 is the floor; header and request timeouts bound
 * slow clients so a slowloris cannot hold sockets open indefinitely.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Env } from './types.ts';

export interface ListenOptions {
  host: string;
  port: number;
  cert: string;
  key: string;
}

export interface Listener {
  server: https.Server;
  port: number;
  close(): Promise<void>;
}

export async function listenHttps(app: Hono<Env>, o: ListenOptions): Promise<Listener> {
  const server = https.createServer(
    {
      cert: o.cert,
      key: o.key,
      minVersion: 'TLSv1.2',
      // 10 s to send headers, 30 s for the whole request: generous for a 500 KB
      // body on a slow mobile link, short enough to shed a slowloris.
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    },
    getRequestListener(app.fetch),
  );
  server.maxRequestsPerSocket = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
