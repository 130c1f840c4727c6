/**
 * The CLI's HTTPS requests to its own server (the admin API, /healthz,
 * /metrics), on `node:https`. A CLI call makes one to three requests and
 * exits; undici cost ~65 ms of every such call just to load (~110 modules),
 * a quarter of a short command's CPU.
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';

export interface HttpsRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The certificate to trust (the server's self-signed one); the system's otherwise. */
  ca?: string;
  /** false: "is it up" checks that must answer even when the certificate is wrong. */
  rejectUnauthorized?: boolean;
  /** How long to wait for the response's headers, and then for each chunk of its body. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

/** Sends one request on a connection of its own; resolves with the response once its headers are in (its body still to read). */
export function httpsRequest(url: string, o: HttpsRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: o.method ?? 'GET',
      headers: { ...o.headers, ...(o.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(o.body)) }) },
      ca: o.ca,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      agent: false,
      timeout: o.headersTimeoutMs,
    });
    req.once('timeout', () => req.destroy(new Error(`no response within ${o.headersTimeoutMs} ms`)));
    req.once('error', reject);
    req.once('response', (res) => {
      // From here the socket's idle timeout is the body's: a stalled download fails instead of hanging the command.
      req.setTimeout(o.bodyTimeoutMs);
      req.removeAllListeners('timeout');
      req.once('timeout', () => res.destroy(new Error(`the response stalled for ${o.bodyTimeoutMs} ms`)));
      resolve(res);
    });
    req.end(o.body);
  });
}

/** The whole body as text. */
export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
