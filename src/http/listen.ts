/**
 * HTTPS listeners. TLS 1.2 is the floor; header and request timeouts bound
 * slow clients so a slowloris cannot hold sockets open indefinitely. The TLS
 * profile and the per-connection and per-IP limits are in transport-limits.ts.
 */
import http, { STATUS_CODES } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { capConnectionsPerIp, DEFAULT_CONNECTION_LIMITS, serverOptions, TLS_OPTIONS, type ConnectionLimits } from './transport-limits.ts';
import type { Env } from './types.ts';
import { codeToStatus, ErrorCode } from '../errors/index.ts';

export interface ListenOptions {
  host: string;
  port: number;
  cert: string;
  key: string;
  /** Timeouts, header size and per-IP connection cap (PALISADE_*_TIMEOUT_MS, …); the defaults otherwise. */
  limits?: ConnectionLimits;
  /** A request Node's HTTP parser refused before the app saw it (431 headers too large, 400, 408), with the status sent. */
  onParserRefusal?: (status: number) => void;
}

export interface Listener {
  server: https.Server;
  port: number;
  /**
   * Graceful-shutdown step one: every response from now on says
   * `Connection: close`, idle keep-alive sockets are closed, and the promise
   * resolves once every request that was in flight at the call has finished
   * (true), or at `deadlineAt` (false). The listener keeps accepting, so a new
   * client gets the app's 503 rather than a refused connection.
   */
  drain(deadlineAt: number): Promise<boolean>;
  /** Stops listening; open sockets get until `deadlineAt` to finish, then are cut. */
  close(deadlineAt?: number): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const PARSER_CODE: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: ErrorCode.HEADERS_TOO_LARGE,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ErrorCode.PAYLOAD_TOO_LARGE,
  ERR_HTTP_REQUEST_TIMEOUT: ErrorCode.REQUEST_TIMEOUT,
};
const PARSER_MESSAGE: Partial<Record<ErrorCode, string>> = {
  headers_too_large: 'the URL and headers are too large',
  payload_too_large: 'request too large',
  request_timeout: 'the request did not arrive in time',
};

/** The one error body, for a refusal the app never saw (no request id: none was assigned). */
function parserRefusal(code: ErrorCode): { status: number; head: string } {
  const status = codeToStatus(code);
  const body = JSON.stringify({ error: { code, message: PARSER_MESSAGE[code] ?? 'bad request', requestId: '' } });
  return {
    status,
    head: `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  };
}

/**
 * Node answers a request its parser refuses (headers over maxHeaderBytes: 431)
 * itself, unless 'clientError' has a listener; this listener does exactly
 * what Node's default does (node/lib/_http_server.js socketOnError), with the
 * service's error body and code instead of an empty one, and also reports the
 * status, so such refusals are counted with every other response.
 */
function countParserRefusals(server: http.Server | https.Server, report: (status: number) => void): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Node's own rule: reply only on a socket nothing was written to yet.
    if (socket.writable && socket.bytesWritten === 0) {
      // With the one error body and its code, like every other refusal.
      const { status, head } = parserRefusal(PARSER_CODE[err.code ?? ''] ?? ErrorCode.BAD_REQUEST);
      socket.write(head);
      report(status);
    }
    socket.destroy(err);
  });
}

export async function listenHttps(app: Hono<Env>, o: ListenOptions): Promise<Listener> {
  const handle = getRequestListener(app.fetch);
  // Responses not yet closed, counted per drain epoch (drain() waits for those that began
  // before it). Counters, not a Set of responses: a Set that grows and shrinks thousands of
  // times a second replaces its hash table each time, and V8 links every obsolete table to
  // its successor; once one is promoted, the scavenger keeps each later table, and the
  // responses in it, alive until a full GC. With the Set, ~7 MB of dead requests reached
  // the old generation at every scavenge (10–15 ms each) under the single-event benchmark;
  // without it, ~1 MB (~5 ms).
  const open: number[] = [0];
  let epoch = 0;
  const idle = (upToEpoch: number) => open.every((n, e) => e > upToEpoch || n === 0);
  let draining = false;
  const server = https.createServer(
    {
      cert: o.cert,
      key: o.key,
      ...TLS_OPTIONS,
      ...serverOptions(o.limits ?? DEFAULT_CONNECTION_LIMITS),
    },
    (req, res) => {
      if (draining) res.setHeader('Connection', 'close');
      const e = epoch;
      open[e] = (open[e] as number) + 1;
      res.once('close', () => {
        open[e] = (open[e] as number) - 1;
      });
      void handle(req, res);
    },
  );
  server.maxRequestsPerSocket = 10_000;
  capConnectionsPerIp(server, o.limits ?? DEFAULT_CONNECTION_LIMITS);
  if (o.onParserRefusal) countParserRefusals(server, o.onParserRefusal);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    drain: async (deadlineAt) => {
      draining = true;
      server.closeIdleConnections();
      const upTo = epoch;
      epoch += 1;
      open.push(0);
      // 20 ms polls: a spool append (the slow part of a request) is ~1 ms here.
      while (!idle(upTo)) {
        if (Date.now() >= deadlineAt) return false;
        await sleep(20);
      }
      return true;
    },
    close: (deadlineAt = Date.now() + 5_000) =>
      (closed ??= (async () => {
        draining = true;
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        // A socket that finishes its request becomes idle; close it then rather than after keepAliveTimeout.
        while (Date.now() < deadlineAt) {
          server.closeIdleConnections();
          if (idle(epoch) && (await Promise.race([done.then(() => true), sleep(20).then(() => false)]))) return;
          await sleep(20);
        }
        server.closeAllConnections();
        await done;
      })()),
  };
}

/**
 * The optional plain-HTTP listener (PALISADE_HTTP_PORT). Its app never serves
 * the API (insecure-transport.ts); the same slow-client limits apply.
 */
export async function listenHttp(
  app: Hono<Env>,
  o: { host: string; port: number; limits?: ConnectionLimits },
): Promise<{ server: http.Server; port: number; close(deadlineAt?: number): Promise<void> }> {
  const server = http.createServer(serverOptions(o.limits ?? DEFAULT_CONNECTION_LIMITS), getRequestListener(app.fetch));
  capConnectionsPerIp(server, o.limits ?? DEFAULT_CONNECTION_LIMITS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async (deadlineAt = Date.now() + 1_000) => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), Math.max(0, deadlineAt - Date.now()));
      await done;
      clearTimeout(cut);
    },
  };
}
