/**
 * Builds the browser snippet with esbuild: dist/palisade.js (classic script,
 * what the server serves at /sdk/palisade.js) and dist/palisade.mjs (ES
 * module). The built files are committed and the server serves them as they
 * are, so the bytes, and with them the SRI hash sites pin, change only when
 * someone rebuilds on purpose, never because a lockfile moved esbuild;
 * build.test.ts fails when the committed files are stale.
 *
 *   node --import tsx sdk/browser/build.ts     rebuild, update README.md's hash, print sizes and the SRI hash
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions } from 'esbuild';
import { VERSION } from './src/context.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const DIST = { js: here('./dist/palisade.js'), mjs: here('./dist/palisade.mjs') };
export const README = here('./README.md');
/** The snippet's pinned hash in README.md. */
export const README_SRI_RE = /s\.integrity="(sha384-[A-Za-z0-9+/=]+)"/;

const common: BuildOptions = {
  bundle: true,
  minify: true,
  write: false,
  // Every browser with Web Locks and sendBeacon runs ES2020; `??=` is lowered.
  target: 'es2020',
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'silent',
  banner: { js: `/*! palisade.js ${VERSION} */` },
};

export async function buildBrowserSdk(): Promise<{ js: string; mjs: string }> {
  const [js, mjs] = await Promise.all([
    build({ ...common, entryPoints: [here('./src/snippet.ts')], format: 'iife' }),
    build({ ...common, entryPoints: [here('./src/index.ts')], format: 'esm' }),
  ]);
  const text = (r: { outputFiles?: { text: string }[] }) => r.outputFiles?.[0]?.text ?? '';
  return { js: text(js), mjs: text(mjs) };
}

export function sri(body: string | Buffer): string {
  return `sha384-${createHash('sha384').update(body).digest('base64')}`;
}

export function gzipSize(body: string): number {
  return gzipSync(body, { level: 9 }).length;
}

async function main(): Promise<void> {
  const out = await buildBrowserSdk();
  await writeFile(DIST.js, out.js);
  await writeFile(DIST.mjs, out.mjs);
  const readme = await readFile(README, 'utf8');
  await writeFile(README, readme.replace(README_SRI_RE, `s.integrity="${sri(out.js)}"`));
  for (const [name, body] of Object.entries(out)) {
    console.log(`palisade.${name}: ${body.length} bytes, ${gzipSize(body)} gzipped, ${sri(body)}`);
  }
  console.log(`\n<script src="https://YOUR-PALISADE-HOST/sdk/palisade.js" integrity="${sri(out.js)}" crossorigin="anonymous" async></script>`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
