/**
 * An HTTPS proxy in front of a spawned Palisade for the third-party SDK tests:
 * it terminates TLS with Palisade's own self-signed certificate (so an SDK
 * that trusts Palisade trusts it), records what each request carried (path,
 * labels, which messageIds), and can fail requests the way a real network
 * and a real load balancer do:
 *   - `refuse`: answer the next N requests itself (503, or 429 with
 *     Retry-After) without forwarding them;
 *   - `loseAck`: forward the next N requests, let Palisade store them, and
 *     answer 503 anyway (the acknowledgement lost on the way back), so the
 *     SDK's retry carries events Palisade already has.
 * Everything else is forwarded byte for byte to Palisade over TLS.
 */
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** What the client saw. */
  status: number;
  /** Whether Palisade received the request (false when the proxy answered it itself). */
  forwarded: boolean;
  /** messageIds in the body (a batch or a single event), when the body was JSON. */
  messageIds: string[];
  /** The body's size on the wire, in bytes. */
  bytes: number;
}

export type Fault = { kind: 'refuse'; status: 503 } | { kind: 'refuse'; status: 429; retryAfter: number } | { kind: 'loseAck' };

export interface RecordingProxy {
  url: string;
  requests: Recorded[];
  /** Fail the next `times` POSTs this way. */
  fail(fault: Fault, times?: number): void;
  close(): Promise<void>;
}

function messageIdsOf(raw: Buffer, encoding: string | undefined): string[] {
  try {
    const body = encoding === 'gzip' ? gunzipSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw;
    const json = JSON.parse(body.toString('utf8')) as { batch?: { messageId?: string }[]; messageId?: string };
    const events = Array.isArray(json.batch) ? json.batch : [json];
    return events.map((e) => e.messageId).filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}

export async function startRecordingProxy(o: { palisadePort: number; tlsDir: string }): Promise<RecordingProxy> {
  const cert = readFileSync(path.join(o.tlsDir, 'self-signed.crt'));
  const key = readFileSync(path.join(o.tlsDir, 'self-signed.key'));
  const requests: Recorded[] = [];
  const faults: Fault[] = [];

  const server: Server = createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const rec: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, status: 0, forwarded: false, messageIds: messageIdsOf(raw, req.headers['content-encoding']), bytes: raw.length };
      requests.push(rec);
      const fault = req.method === 'POST' ? faults.shift() : undefined;
      const origin = req.headers.origin;
      const cors: Record<string, string> = origin ? { 'access-control-allow-origin': origin, 'access-control-expose-headers': 'Retry-After' } : {};
      if (fault?.kind === 'refuse') {
        rec.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/json', ...cors, ...(fault.status === 429 ? { 'retry-after': String(fault.retryAfter) } : {}) });
        res.end(JSON.stringify({ error: { code: fault.status === 429 ? 'rate_limited' : 'unavailable', message: 'injected by the test proxy' } }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      const upstream = request(
        { host: '127.0.0.1', servername: 'localhost', port: o.palisadePort, method: req.method, path: req.url, headers: { ...headers, host: `localhost:${o.palisadePort}` }, ca: cert },
        (up) => {
          rec.forwarded = true;
          if (fault?.kind === 'loseAck') {
            up.resume();
            rec.status = 503;
            res.writeHead(503, { 'content-type': 'application/json', ...cors });
            res.end(JSON.stringify({ error: { code: 'unavailable', message: 'acknowledgement lost by the test proxy' } }));
            return;
          }
          rec.status = up.statusCode ?? 0;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        rec.status = 502;
        res.writeHead(502).end();
      });
      upstream.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    requests,
    fail(fault, times = 1) {
      for (let i = 0; i < times; i++) faults.push(fault);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
