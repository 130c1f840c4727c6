/**
 * Reads a request body under hard limits: the wire size is capped while
 * streaming (a lying or absent Content-Length cannot get past it), and a gzip
 * body is inflated with zlib's maxOutputLength so a zip bomb stops at the cap
 * instead of filling memory.
 */
import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, inflate as inflateCb } from 'node:zlib';
import { AppError, ErrorCode } from '../errors/index.ts';
import { assertEnvelopeKey, scanBodyForSecretKeys } from './credentials.ts';
import { incomingHeader } from './request-headers.ts';

const gunzip = promisify(gunzipCb);
const inflate = promisify(inflateCb);

export interface BodyLimits {
  maxBodyBytes: number;
  maxDecompressedBytes: number;
}

function tooLarge(max: number): AppError {
  return new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `request body exceeds ${max} bytes`);
}

async function collect(chunks: AsyncIterable<Uint8Array>, max: number, stop: () => void): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > max) {
      stop();
      throw tooLarge(max);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

/**
 * A Node request's body, from its 'data' events: the stream's async iterator
 * (collect) costs a promise and an iterator result per chunk, ~1.5 KB of
 * garbage per request. `finished` settles it as the iterator did: resolved at
 * the end, rejected on an error or a connection closed early.
 */
function readIncoming(incoming: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    let refused = false;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= max) {
        parts.push(chunk);
        return;
      }
      // Stop reading at the cap; the 413 goes out and the connection is closed.
      refused = true;
      incoming.off('data', onData);
      incoming.pause();
      reject(tooLarge(max));
    };
    incoming.on('data', onData);
    finished(incoming, { writable: false }, (err) => {
      if (refused) return;
      if (err) reject(err);
      else resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total));
    });
  });
}

async function* fromWebStream(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** A header of the request: from Node's parse when there is a Node request (no undici Headers built). */
function headerOf(req: Request, incoming: IncomingMessage | undefined, name: string): string | undefined {
  return incoming ? incomingHeader(incoming, name) : (req.headers.get(name) ?? undefined);
}

/**
 * On Node the body is read straight from the socket's IncomingMessage: it
 * skips building a WHATWG Request and stream per request, which was ~12% of
 * the CPU of a single-event request. In-process app.request() tests have no
 * IncomingMessage and read the Request's stream instead.
 */
async function readCapped(req: Request, max: number, incoming?: IncomingMessage): Promise<Buffer> {
  const declared = Number(headerOf(req, incoming, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw tooLarge(max);
  if (incoming && !incoming.readableDidRead) return readIncoming(incoming, max);
  if (!req.body) return Buffer.alloc(0);
  const body = req.body;
  return collect(fromWebStream(body), max, () => void body.cancel().catch(() => undefined));
}

async function decode(raw: Buffer, encoding: string, max: number): Promise<Buffer> {
  if (encoding === '' || encoding === 'identity') {
    if (raw.length > max) throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `request body exceeds ${max} bytes`);
    return raw;
  }
  if (encoding !== 'gzip' && encoding !== 'deflate') {
    throw new AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'content-encoding must be gzip, deflate or identity');
  }
  try {
    return await (encoding === 'gzip' ? gunzip : inflate)(raw, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `decompressed body exceeds ${max} bytes`);
    }
    throw new AppError(ErrorCode.INVALID_ENCODING, `the body is not valid ${encoding} data`);
  }
}

/** JSON (or text/plain) only: the query and admin APIs, whose clients are ours. The /v1/* tracking routes use readJsonBody's anyLabel instead. */
export function assertJsonContentType(req: Request, allowTextPlain: boolean): void {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return;
  if (allowTextPlain && type === 'text/plain') return;
  throw new AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'content-type must be application/json');
}

/** True when the Content-Type label claims JSON (application/json or any +json type). */
function labelledJson(req: Request): boolean {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

export interface ReadJsonOptions {
  /**
   * The body is the judge, not its label (the /v1/* tracking routes):
   * Segment- and RudderStack-style clients send JSON as application/json,
   * text/plain (beacons), form-urlencoded (rudder-sdk-node's gzip mode, an
   * HTTP-client quirk) or unlabelled. A body that is not JSON is then a 400
   * invalid_json when its label said JSON (malformed) and a 415
   * unsupported_media_type otherwise (another format). Only the failure
   * path looks at the label, so an accepted request pays nothing for it.
   */
  anyLabel?: boolean;
  /**
   * The token of the request's Authorization header, if any: the one secret
   * key a body may carry, as its top-level `writeKey` (Segment's server SDK
   * sends it there too; see scanBodyForSecretKeys).
   */
  headerToken?: string;
  /** Told the decoded body's size in bytes (the ingest pipeline bounds every event's size by it). */
  onBytes?: (bytes: number) => void;
}

// One decoder for every body: decode() without { stream: true } starts afresh each call, also after a throw.
const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readJsonBody(req: Request, limits: BodyLimits, incoming?: IncomingMessage, options: ReadJsonOptions = {}): Promise<unknown> {
  const raw = await readCapped(req, limits.maxBodyBytes, incoming);
  const encoding = (headerOf(req, incoming, 'content-encoding') ?? '').trim().toLowerCase();
  const body = await decode(raw, encoding, encoding === '' || encoding === 'identity' ? limits.maxBodyBytes : limits.maxDecompressedBytes);
  if (body.length === 0) throw new AppError(ErrorCode.INVALID_JSON, 'the request body is empty');
  options.onBytes?.(body.length);
  const secretKey = scanBodyForSecretKeys(body, options.headerToken);
  let parsed: unknown;
  try {
    // TextDecoder with fatal: invalid UTF-8 is refused rather than silently replaced.
    parsed = JSON.parse(utf8.decode(body));
  } catch {
    // Never echo the parser's message: it quotes the untrusted input.
    if (options.anyLabel && !labelledJson(req)) {
      throw new AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'the request body must be UTF-8 JSON (whatever its content-type label)');
    }
    throw new AppError(ErrorCode.INVALID_JSON, 'the request body is not valid UTF-8 JSON');
  }
  if (secretKey === 'envelope') assertEnvelopeKey(parsed, options.headerToken);
  return parsed;
}
