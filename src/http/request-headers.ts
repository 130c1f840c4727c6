/**
 * The Node request and response under a Hono context, when the request came
 * through the Node server, and request headers read from the former.
 *
 * Request headers as the WHATWG Headers API gives them (the values of a
 * repeated header joined with ", "; lower-case names), read from Node's own
 * parse when the request came through the Node server. Hono's
 * `c.req.header()` builds an undici `Headers` from the raw headers on first
 * use: a cost on every request of the ingest path, which reads a handful of
 * them. In-process (`app.request()`, no Node request) the Request's own
 * headers are read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { Env } from './types.ts';

/** One header of a Node request; `name` in lower case. */
export function incomingHeader(incoming: IncomingMessage, name: string): string | undefined {
  // headersDistinct keeps every value; `headers` keeps only the first of some (Authorization, Content-Type…).
  const v = incoming.headersDistinct[name];
  if (v === undefined) return undefined;
  return v.length === 1 ? v[0] : v.join(', ');
}

/** The Node request under a Hono context, when there is one (HTTP/1.1 on the Node server). */
export function nodeRequest(c: Context<Env>): IncomingMessage | undefined {
  const incoming = c.env?.incoming;
  return incoming && 'headersDistinct' in incoming ? (incoming as IncomingMessage) : undefined;
}

/**
 * The Node response, while its headers can still be set: a header set there
 * goes out with whatever Hono answers (a route's own header of the same name
 * wins in writeHead) and spares @hono/node-server building an undici Headers.
 */
export function nodeResponse(c: Context<Env>): ServerResponse | undefined {
  const out = c.env?.outgoing;
  return out && 'headersSent' in out && !out.headersSent && typeof out.setHeader === 'function' ? (out as ServerResponse) : undefined;
}

/** A request header (`name` in lower case), as `c.req.header(name)` would answer. */
export function requestHeader(c: Context<Env>, name: string): string | undefined {
  const incoming = nodeRequest(c);
  return incoming ? incomingHeader(incoming, name) : c.req.header(name);
}
