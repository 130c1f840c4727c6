/**
 * The one way a test gets a browser. Debian's /usr/bin/chromium when it is
 * there (it starts in ~0.3 s; .ci/run installs it), otherwise the Chromium
 * that ships inside the `@sparticuz/chromium` npm tarball, so `npm install &&
 * npm test` needs nothing but Node. PALISADE_TEST_CHROMIUM=npm forces the npm
 * one (to prove the fresh-machine path on a machine that has Debian's);
 * PALISADE_TEST_CHROMIUM=/path/to/chrome names another binary.
 *
 * The npm binary is unpacked once to os.tmpdir()/chromium (~200 MB, a few
 * seconds); test files run in parallel, so the unpacking is done under a lock
 * file, or a second process would launch a half-written binary.
 */
import { existsSync, statSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type LaunchOptions } from 'playwright-core';

const SYSTEM = '/usr/bin/chromium';

/**
 * Flags for a test browser. Deliberately not `@sparticuz/chromium`'s `args`:
 * those carry --disable-web-security and --allow-running-insecure-content
 * (for Lambda screenshots), which would switch off the very CORS and
 * mixed-content checks the browser tests exist to exercise.
 */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/**
 * The npm build has no GPU libraries but SwiftShader, and no zygote helper
 * beside it. It also takes its locale from LANG, and with LANG unset or C it
 * reports `en-US@posix`, which Intl rejects ("Invalid language tag"), so a
 * page's toLocaleString() throws: pin a real locale.
 */
const NPM_ARGS = ['--no-zygote', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--lang=en-US'];
const NPM_ENV = { LANG: 'en_US.UTF-8' };

export interface ChromiumBinary {
  executablePath: string;
  args: string[];
  env: Record<string, string>;
  source: 'system' | 'npm' | 'env';
}

let resolved: Promise<ChromiumBinary> | undefined;

/** Which Chromium this run uses (resolved once per process). */
export function chromiumBinary(): Promise<ChromiumBinary> {
  return (resolved ??= resolveBinary());
}

async function resolveBinary(): Promise<ChromiumBinary> {
  const choice = process.env.PALISADE_TEST_CHROMIUM ?? '';
  if (choice && choice !== 'npm' && choice !== 'system') return { executablePath: choice, args: CHROMIUM_ARGS, env: {}, source: 'env' };
  if (choice !== 'npm' && existsSync(SYSTEM)) return { executablePath: SYSTEM, args: CHROMIUM_ARGS, env: {}, source: 'system' };
  if (choice === 'system') throw new Error(`PALISADE_TEST_CHROMIUM=system but ${SYSTEM} is missing (apt-get install -y chromium)`);
  return { executablePath: await unpackNpmChromium(), args: [...CHROMIUM_ARGS, ...NPM_ARGS], env: NPM_ENV, source: 'npm' };
}

async function unpackNpmChromium(): Promise<string> {
  const lock = path.join(tmpdir(), 'palisade-chromium-unpack.lock');
  const ready = path.join(tmpdir(), 'palisade-chromium-unpacked');
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (existsSync(ready) && existsSync(path.join(tmpdir(), 'chromium'))) return path.join(tmpdir(), 'chromium');
    let handle;
    try {
      handle = await open(lock, 'wx');
    } catch {
      // Someone else is unpacking; a lock older than 3 minutes is from a process that died.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000) await rm(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (another test unpacking Chromium)`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      // A binary left by a run that died mid-unpack (no ready marker) is unpacked again.
      await rm(path.join(tmpdir(), 'chromium'), { force: true });
      const sparticuz = (await import('@sparticuz/chromium')).default;
      const exe = await sparticuz.executablePath();
      await writeFile(ready, exe);
      return exe;
    } finally {
      await handle.close();
      await rm(lock, { force: true });
    }
  }
}

function envOf(env: LaunchOptions['env']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? process.env)) if (typeof v === 'string') out[k] = v;
  return out;
}

export async function launchChromium(o: LaunchOptions = {}): Promise<Browser> {
  const bin = await chromiumBinary();
  return chromium.launch({ headless: true, ...o, executablePath: bin.executablePath, args: [...bin.args, ...(o.args ?? [])], env: { ...envOf(o.env), ...bin.env } });
}

export async function launchPersistentChromium(profileDir: string, o: Parameters<typeof chromium.launchPersistentContext>[1] = {}): Promise<BrowserContext> {
  const bin = await chromiumBinary();
  return chromium.launchPersistentContext(profileDir, { headless: true, ...o, executablePath: bin.executablePath, args: [...bin.args, ...(o.args ?? [])], env: { ...envOf(o.env), ...bin.env } });
}
