/**
 * The CLI's client for the admin listener. chDB binds one data directory per
 * process and the server owns it, so the CLI never opens the database: it
 * talks HTTPS to the running server with the admin token from the data
 * directory's secrets file (or PALISADE_ADMIN_TOKEN).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { readSecrets } from '../secrets/file-secrets.ts';
import { httpsRequest, readText } from './https-request.ts';

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface AdminClient {
  call<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', route: string, body?: unknown): Promise<T>;
  /** A streamed (JSON lines) GET, written to `sink` as it arrives. */
  download(route: string, sink: NodeJS.WritableStream): Promise<string>;
}

async function adminToken(config: Config): Promise<string> {
  if (config.adminToken) return config.adminToken;
  try {
    return (await readSecrets(config.dataDir)).adminToken;
  } catch (err) {
    throw new CliError(
      `no admin token: set PALISADE_ADMIN_TOKEN or run this where the server's data directory (${config.dataDir}) is readable (${(err as Error).message})`,
    );
  }
}

async function trustAnchor(config: Config): Promise<string | undefined> {
  // The self-signed certificate the server generated is the one to trust.
  const file = config.tls.certFile ?? path.join(config.dataDir, 'tls', 'self-signed.crt');
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

export async function adminClient(config: Config): Promise<AdminClient> {
  const token = await adminToken(config);
  const ca = await trustAnchor(config);
  const host = config.adminHost === '0.0.0.0' ? '127.0.0.1' : config.adminHost;
  const base = `https://${host.includes(':') ? `[${host}]` : host}:${config.adminPort}`;
  return {
    /** Streams the body to `sink`; returns its last line (a JSON-lines download's `end` record). */
    async download(route: string, sink: NodeJS.WritableStream): Promise<string> {
      let res;
      try {
        res = await httpsRequest(`${base}${route}`, { ca, headers: { authorization: `Bearer ${token}` }, headersTimeoutMs: 30_000, bodyTimeoutMs: 300_000 });
      } catch (err) {
        throw new CliError(`cannot reach the Palisade admin API at ${base} (${(err as Error).message}); is \`npm start\` running?`);
      }
      const status = res.statusCode ?? 0;
      if (status >= 400) {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = (JSON.parse(await readText(res)) as { error?: { code?: string; message?: string } }).error;
        } catch {
          /* not JSON */
        }
        throw new CliError(`${e?.code ?? 'error'}: ${e?.message ?? `HTTP ${status}`}`);
      }
      let tail = '';
      for await (const chunk of res) {
        // Only the last line is kept: at most one line's worth of memory.
        tail = (tail + (chunk as Buffer).toString('utf8')).split('\n').slice(-2).join('\n');
        if (!sink.write(chunk as Buffer)) await new Promise((r) => sink.once('drain', r));
      }
      return tail.trim().split('\n').at(-1) ?? '';
    },
    async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', route: string, body?: unknown): Promise<T> {
      let res;
      try {
        res = await httpsRequest(`${base}${route}`, {
          method,
          ca,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeoutMs: 30_000,
          bodyTimeoutMs: 30_000,
        });
      } catch (err) {
        throw new CliError(`cannot reach the Palisade admin API at ${base} (${(err as Error).message}); is \`npm start\` running?`);
      }
      const text = await readText(res);
      const status = res.statusCode ?? 0;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new CliError(`unexpected response from ${base}${route} (HTTP ${status})`);
      }
      if (status >= 400) {
        const e = (json as { error?: { code?: string; message?: string } }).error;
        throw new CliError(`${e?.code ?? 'error'}: ${e?.message ?? `HTTP ${status}`}`);
      }
      return json as T;
    },
  };
}
