/**
 * One POST /v1/batch over undici: HTTP Basic with the ingest key as user
 * (Segment's convention), gzip, a timeout, and the answer reduced to what the
 * retry policy needs.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { Agent, request } from 'undici';

const gzip = promisify(gzipCb);

export interface SendResult {
  /** 0 when no answer came back (network error, timeout). */
  status: number;
  retryAfter?: string;
  rejected?: { index: number; code: string; message: string }[];
  error?: Error;
}

export class Transport {
  private readonly agent: Agent;
  private readonly url: string;
  private readonly auth: string;

  constructor(o: { host: string; token: string; ca?: string | Buffer | (string | Buffer)[]; timeout: number; compress: boolean }) {
    this.url = new URL('/v1/batch', o.host).toString();
    this.auth = `Basic ${Buffer.from(`${o.token}:`).toString('base64')}`;
    this.compress = o.compress;
    this.agent = new Agent({
      connect: o.ca ? { ca: o.ca } : {},
      headersTimeout: o.timeout,
      bodyTimeout: o.timeout,
      keepAliveTimeout: 10_000,
      connections: 8,
    });
  }

  private readonly compress: boolean;

  async send(json: string, signal?: AbortSignal): Promise<SendResult> {
    const headers: Record<string, string> = { authorization: this.auth, 'content-type': 'application/json' };
    let body: string | Buffer = json;
    if (this.compress) {
      body = await gzip(json);
      headers['content-encoding'] = 'gzip';
    }
    try {
      const res = await request(this.url, { method: 'POST', headers, body, dispatcher: this.agent, signal });
      const text = await res.body.text();
      const retryAfter = res.headers['retry-after'];
      const out: SendResult = { status: res.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
      if (res.statusCode === 200) {
        try {
          const parsed = JSON.parse(text) as { rejected?: SendResult['rejected'] };
          if (Array.isArray(parsed.rejected)) out.rejected = parsed.rejected;
        } catch {
          /* a 200 is an acknowledgement whatever its body */
        }
      } else {
        out.error = new Error(`palisade answered ${res.statusCode}: ${text.slice(0, 300)}`);
      }
      return out;
    } catch (err) {
      return { status: 0, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
