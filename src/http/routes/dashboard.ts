/**
 * The built-in dashboard: a static page, its script and styles, and uPlot
 * served from our own origin (read from node_modules at start-up, no CDN).
 * The page talks only to the public query API. Its CSP allows nothing but
 * this origin: no inline script or style, no framing, no form posts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { Env } from '../types.ts';

const ASSETS = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Uint8Array;
  type: string;
}

function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const file = (p: string, type: string): Asset => ({ body: new Uint8Array(readFileSync(p)), type });
  const page = file(`${ASSETS}index.html`, 'text/html; charset=utf-8');
  return new Map([
    ['/dashboard', page],
    ['/dashboard/', page],
    ['/dashboard/app.js', file(`${ASSETS}app.js`, 'text/javascript; charset=utf-8')],
    ['/dashboard/app.css', file(`${ASSETS}app.css`, 'text/css; charset=utf-8')],
    ['/dashboard/vendor/uplot.js', file(require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
    ['/dashboard/vendor/uplot.css', file(require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8')],
  ]);
}

export function dashboardRoutes(): Hono<Env> {
  const assets = loadAssets();
  const app = new Hono<Env>();
  for (const [path, asset] of assets) {
    app.get(path, (c) => {
      c.header('Content-Type', asset.type);
      c.header('Content-Security-Policy', DASHBOARD_CSP);
      c.header('X-Frame-Options', 'DENY');
      return c.body(asset.body as Uint8Array<ArrayBuffer>);
    });
  }
  return app;
}
