/**
 * Test harness: runs a real Palisade server as a child process (HTTPS on
 * ephemeral ports, embedded chDB in its own data directory) and talks to it
 * over real TLS. chDB binds one data directory per process, so the server
 * owns it; a test that wants to read ClickHouse directly stops the server
 * first and opens the directory itself (openDataDir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request, type Dispatcher } from 'undici';
import { generateSelfSigned, storeSelfSigned } from '../../src/tls/certificate.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `palisade` command as shipped: tsx and the sources (`npm start`). */
export const SOURCE_BIN = path.join(ROOT, 'bin', 'palisade.js');
/**
 * Under `npm test`, the runner's bundles of the command and of the scripts
 * tests spawn (scripts/test-build.mjs): each at its source's path, `.ts` →
 * `.mjs`, the command as bin/palisade.cjs. They start as plain Node, without
 * tsx's loader; a test file run by hand uses the sources.
 */
const TEST_BUILD = process.env.PALISADE_TEST_BUILD;
/** The `palisade` command tests run: the run's bundle of it under `npm test`, else SOURCE_BIN. */
export const BIN = TEST_BUILD ? path.join(TEST_BUILD, 'bin', 'palisade.cjs') : SOURCE_BIN;
/** Node's arguments to run one of the project's TypeScript scripts (`rel` from ROOT). */
export function scriptArgv(rel: string): string[] {
  if (!TEST_BUILD) return ['--import', 'tsx', path.join(ROOT, rel)];
  const built = path.join(TEST_BUILD, rel.replace(/\.ts$/, '.mjs'));
  if (!existsSync(built)) throw new Error(`${rel} has no bundle in this test run: add it to SPAWNED_SCRIPTS in scripts/test.mjs`);
  return [built];
}
/**
 * Node's flags for a server, as `npm start` and the image's ENTRYPOINT pass
 * them (test/deploy-files.test.ts holds the three equal), so tests and the
 * bench run the server as it runs in production.
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];

export interface HttpResult<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

/** A response body: parsed when it is JSON, the text otherwise. */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A response read whole, with its body as `jsonOrText` gives it and its text either way. */
export async function resultOf<T>(res: Dispatcher.ResponseData): Promise<HttpResult<T>> {
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: jsonOrText(text) as T, text };
}

export interface Palisade {
  dataDir: string;
  apiPort: number;
  adminPort: number;
  adminToken: string;
  env: NodeJS.ProcessEnv;
  proc: ChildProcess;
  /** Every line the server wrote to stdout and stderr. */
  output: string[];
  api<T = unknown>(method: string, route: string, o?: { body?: unknown; raw?: Buffer | string; headers?: Record<string, string> }): Promise<HttpResult<T>>;
  admin<T = unknown>(method: string, route: string, body?: unknown): Promise<HttpResult<T>>;
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export async function tempDir(prefix = 'palisade-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

let tlsPair: Promise<{ cert: string; key: string }> | undefined;

/**
 * A self-signed certificate and key for the servers this run starts on fresh
 * data directories: made once per run (the runner names the file,
 * PALISADE_TEST_TLS; once per process without it) and written where the
 * server keeps its own, so each start reuses it as a restart reuses its
 * certificate. Generating one (loading the x509 library and making a key)
 * was ~0.12 of a start's ~0.7 CPU-seconds, on ~70 starts a run. A first
 * start's generation is tested in src/tls/certificate.test.ts and still
 * runs for every server a test starts on a directory of its own.
 */
async function seedTls(dataDir: string): Promise<void> {
  tlsPair ??= (async () => {
    const file = process.env.PALISADE_TEST_TLS;
    if (file) {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as { cert: string; key: string };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const pair = await generateSelfSigned();
    if (file) {
      // Whole or not at all: test files starting at once may each write one; the last rename wins.
      await writeFile(`${file}.${process.pid}`, JSON.stringify(pair), { mode: 0o600 });
      await rename(`${file}.${process.pid}`, file);
    }
    return pair;
  })();
  await storeSelfSigned(dataDir, await tlsPair);
}

function collect(proc: ChildProcess, output: string[]): void {
  for (const stream of [proc.stdout, proc.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      output.push(...lines);
    });
  }
}

export async function startPalisade(
  o: {
    dataDir?: string;
    env?: Record<string, string>;
    /** Node's arguments instead of `BIN serve` (test/image.int.test.ts runs the build), and where to run them. */
    argv?: string[];
    /** The `palisade` command to serve and to run `cli()` with (default BIN). */
    bin?: string;
    cwd?: string;
  } = {},
): Promise<Palisade> {
  const dataDir = o.dataDir ?? (await tempDir());
  if (!o.dataDir && !o.env?.PALISADE_TLS_CERT) await seedTls(dataDir);
  // CLICKHOUSE_* only from the test's own backend (helpers/clickhouse-backend.ts): a test
  // that reads the embedded data directory must not silently run against a server.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLICKHOUSE_')));
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    PALISADE_DATA_DIR: dataDir,
    PALISADE_PORT: '0',
    PALISADE_ADMIN_PORT: '0',
    PALISADE_LOG_LEVEL: 'info',
    PALISADE_FLUSH_INTERVAL_MS: '100',
    ...o.env,
  };
  const bin = o.bin ?? BIN;
  const argv = o.argv ?? [...SERVER_NODE_FLAGS, bin, 'serve'];
  const proc = spawn(process.execPath, [...(process.env.PALISADE_NODE_ARGS ? process.env.PALISADE_NODE_ARGS.split(' ') : []), ...argv], { cwd: o.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  collect(proc, output);
  const started = Date.now();
  let ports: { apiPort: number; adminPort: number } | undefined;
  while (!ports) {
    if (proc.exitCode !== null) throw new Error(`palisade exited with ${proc.exitCode} during start:\n${output.join('\n')}`);
    if (Date.now() - started > 60_000) {
      proc.kill('SIGKILL');
      throw new Error(`palisade did not start within 60 s:\n${output.join('\n')}`);
    }
    for (const line of output) {
      if (!line.includes('palisade listening')) continue;
      const parsed = JSON.parse(line) as { apiPort: number; adminPort: number };
      ports = { apiPort: parsed.apiPort, adminPort: parsed.adminPort };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const secrets = JSON.parse(await readFile(path.join(dataDir, 'secrets.json'), 'utf8')) as { adminToken: string };
  const ca = await readFile(path.join(dataDir, 'tls', 'self-signed.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca }, keepAliveTimeout: 1_000 });

  async function call<T>(port: number, method: string, route: string, headers: Record<string, string>, body?: Buffer | string): Promise<HttpResult<T>> {
    return await resultOf<T>(await request(`https://localhost:${port}${route}`, { method: method as 'GET', headers, body, dispatcher }));
  }

  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  // A server that stop() finds dead by a signal it did not handle (a native crash) says which, with its last lines.
  const reportSignal = () => {
    if (proc.signalCode && proc.signalCode !== 'SIGKILL') process.stderr.write(`# palisade (pid ${proc.pid}) exited on ${proc.signalCode}; its last lines:\n${output.slice(-20).join('\n')}\n`);
  };
  const handle: Palisade = {
    dataDir,
    env,
    proc,
    output,
    ...ports,
    adminToken: secrets.adminToken,
    api: (method, route, opts = {}) => {
      const headers: Record<string, string> = { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
      return call(ports.apiPort, method, route, headers, opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined));
    },
    admin: (method, route, body) =>
      call(
        ports.adminPort,
        method,
        route,
        { authorization: `Bearer ${secrets.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body !== undefined ? JSON.stringify(body) : undefined,
      ),
    cli: (args, extraEnv = {}) => runCli(args, { ...env, PALISADE_ADMIN_PORT: String(ports.adminPort), ...extraEnv }, bin),
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await exited;
      reportSignal();
      await dispatcher.close();
      return code;
    },
    kill: async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
      await dispatcher.close();
    },
  };
  return handle;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, bin = BIN): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [bin, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function basic(token: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}` };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface CreatedTenant {
  tenant: { id: string; name: string; allowedOrigins: string[] };
  keys: { ingest: string; browser: string; query: string };
}

export async function createTenant(p: Pick<Palisade, 'admin'>, name: string, allowedOrigins: string[] = []): Promise<CreatedTenant> {
  const r = await p.admin<CreatedTenant>('POST', '/admin/tenants', { name, allowedOrigins });
  if (r.status !== 201) throw new Error(`tenant create failed: ${r.status} ${r.text}`);
  return r.body;
}

export async function stats(p: Pick<Palisade, 'admin'>, tenantId: string): Promise<{ events: number; lastEventAt: string | null; bytesOnDisk: number }> {
  const r = await p.admin<{ events: number; lastEventAt: string | null; bytesOnDisk: number }>('GET', `/admin/tenants/${tenantId}/stats`);
  if (r.status !== 200) throw new Error(`stats failed: ${r.status} ${r.text}`);
  return r.body;
}
