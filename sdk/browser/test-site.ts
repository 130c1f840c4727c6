/**
 * Test-only: the websites the browser tests load the snippet into. One
 * server per origin on 127.0.0.1 (HTTPS with Palisade's own self-signed
 * certificate for https://localhost:PORT, plain HTTP otherwise), serving
 * pages the tests register, and page builders that use the README's
 * copy-paste snippet verbatim, so the documented snippet is what is tested.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { README } from './build.ts';

export interface Site {
  origin: string;
  /** Serve `html` at `route` (a path, without query). */
  page(route: string, html: string): string;
  close(): Promise<void>;
}

export async function startSite(o: { host: 'localhost' | '127.0.0.1'; tlsDir?: string }): Promise<Site> {
  const pages = new Map<string, string>();
  const handler = (req: { url?: string }, res: import('node:http').ServerResponse) => {
    const html = pages.get((req.url ?? '/').split('?')[0] ?? '/');
    res.writeHead(html === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html ?? 'not found');
  };
  const server: Server = o.tlsDir
    ? createHttps({ cert: readFileSync(path.join(o.tlsDir, 'self-signed.crt')), key: readFileSync(path.join(o.tlsDir, 'self-signed.key')) }, handler)
    : createHttp(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `${o.tlsDir ? 'https' : 'http'}://${o.host}:${port}`;
  return {
    origin,
    page(route, html) {
      pages.set(route, html);
      return origin + route;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The copy-paste snippet from README.md, pointed at this host and key, with extra init options. */
export function readmeSnippet(host: string, key: string, options: Record<string, unknown> = {}): string {
  const readme = readFileSync(README, 'utf8');
  const m = /<!-- palisade-snippet -->\s*```html\n([\s\S]*?)```/.exec(readme);
  if (!m?.[1]) throw new Error('README.md has no palisade-snippet block');
  const snippet = m[1]
    .replace('"https://palisade.example.com"', JSON.stringify(host))
    .replace('"pal_pk_YOUR_KEY"', JSON.stringify(key));
  if (!snippet.includes('p.init(k,{host:h})')) throw new Error('the README snippet changed shape; update readmeSnippet');
  return snippet.replace('p.init(k,{host:h})', `p.init(k,Object.assign({host:h},${JSON.stringify(options)}))`);
}

export function classicPage(o: { host: string; key: string; options?: Record<string, unknown>; title?: string; script?: string }): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${o.title ?? 'Shop'}</title>
${readmeSnippet(o.host, o.key, o.options)}
<script>${o.script ?? ''}</script></head><body><h1>test page</h1></body></html>`;
}

export function modulePage(o: { host: string; key: string; options?: Record<string, unknown>; script?: string }): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Module</title>
<script type="module">
import { palisade } from ${JSON.stringify(o.host + '/sdk/palisade.mjs')};
window.palisade = palisade;
palisade.init(${JSON.stringify(o.key)}, ${JSON.stringify({ host: o.host, ...o.options })});
${o.script ?? ''}
window.palisadeReady = true;
</script></head><body><h1>module page</h1></body></html>`;
}

export interface Proxy {
  port: number;
  /** Refuse new connections and cut open ones: a network outage between the browser and Palisade. */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

/**
 * A TCP pass-through to Palisade (TLS stays end to end) that the test can cut.
 * Unlike Playwright's request routing, it also stops sendBeacon requests,
 * which the browser sends outside the page.
 */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const { createServer, connect } = await import('node:net');
  let isDown = false;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    if (isDown) return client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
