/**
 * The browser snippet, served by Palisade itself: GET /sdk/palisade.js
 * (classic script), /sdk/palisade.mjs (ES module) and, for each, `.sri`
 * with its Subresource Integrity hash as text (also sent as the
 * `X-Palisade-SRI` header on the script). The files are the committed build
 * in sdk/browser/dist (see sdk/browser/build.ts), read once at start-up, so
 * every edge serves the same bytes and the same hash.
 *
 * Caching: a day, revalidated with a strong ETag (a 304 costs one round trip,
 * no body). Not `immutable`: the URL is stable across Palisade upgrades, and a
 * site that pins `integrity` must fetch the new hash after an upgrade, which
 * the .sri endpoint is for.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { allowOrigin } from '../middleware/cors.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

const DIST = new URL('../../../sdk/browser/dist/', import.meta.url);

interface Asset {
  body: string;
  sri: string;
  etag: string;
}

function load(file: URL): Asset | undefined {
  let body: string;
  try {
    body = readFileSync(fileURLToPath(file), 'utf8');
  } catch {
    return undefined;
  }
  const sri = `sha384-${createHash('sha384').update(body).digest('base64')}`;
  return { body, sri, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export function sdkRoutes(o: { distDir?: URL } = {}): Hono<Env> {
  const app = new Hono<Env>();
  const base = o.distDir ?? DIST;
  const assets = new Map<string, Asset | undefined>(
    ['palisade.js', 'palisade.mjs'].map((f) => [f, load(new URL(f, base))]),
  );

  const asset = (name: string): Asset => {
    const a = assets.get(name);
    if (!a) throw new AppError(ErrorCode.NOT_FOUND, 'no such file');
    return a;
  };

  const publicHeaders = (c: Context<Env>, maxAge: number) => {
    c.header('Cache-Control', `public, max-age=${maxAge}`);
    // A public script: any page may load it, and SRI needs a CORS-readable response.
    allowOrigin(c, '*');
  };

  app.get('/sdk/:file{palisade\\.m?js}', (c) => {
    const a = asset(c.req.param('file'));
    publicHeaders(c, 86_400);
    c.header('ETag', a.etag);
    c.header('X-Palisade-SRI', a.sri);
    if ((requestHeader(c, 'if-none-match') ?? '').split(/\s*,\s*/).includes(a.etag)) return c.body(null, 304);
    c.header('Content-Type', 'application/javascript; charset=utf-8');
    return c.body(a.body);
  });

  app.get('/sdk/:file{palisade\\.m?js\\.sri}', (c) => {
    const a = asset(c.req.param('file').replace(/\.sri$/, ''));
    publicHeaders(c, 300);
    c.header('Content-Type', 'text/plain; charset=utf-8');
    return c.body(a.sri);
  });

  return app;
}
