/**
 * Where a test's Palisade keeps its events: the embedded engine (chDB in the
 * server process) or a ClickHouse server over HTTP through the official
 * client. With CLICKHOUSE_URL set in the environment the server is that real
 * ClickHouse (each backend gets its own database, dropped at the end);
 * without it, the test-only bridge (clickhouse-bridge.ts) serves ClickHouse's
 * HTTP interface from chDB in a child process.
 *
 * `down()`/`up()` make ClickHouse unreachable and back: the bridge is
 * SIGKILLed and restarted on the same port and data directory; a real server
 * is reached through a TCP proxy in this process, which is closed and reopened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { ClickHouseServerWarehouse } from '../../src/storage/clickhouse-warehouse.ts';
import type { Warehouse } from '../../src/storage/warehouse.ts';
import { openDataDir } from './data-dir.ts';
import { removeDir, ROOT, scriptArgv, tempDir } from './palisade.ts';

export interface Backend {
  readonly kind: 'embedded' | 'server';
  /** 'embedded', 'bridge' or 'clickhouse-server': printed in test names. */
  readonly label: string;
  /** Environment for the Palisade process (CLICKHOUSE_* for the server kinds). */
  env(): Record<string, string>;
  /**
   * A warehouse on what Palisade wrote. Embedded: opens the data directory, so
   * only once the server that owns it has stopped. Server: any time.
   */
  open(dataDir: string): Promise<Warehouse>;
  /**
   * The process that runs the engine when it is a child of this one (the
   * bridge), so a benchmark can count its CPU; undefined for the embedded
   * engine (inside Palisade's process) and for a real server.
   */
  enginePid?(): number | undefined;
  /** Server kinds only: make ClickHouse unreachable, then reachable again. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export const embedded: Backend = {
  kind: 'embedded',
  label: 'embedded',
  env: () => ({}),
  open: (dataDir) => openDataDir(dataDir),
  down: () => Promise.reject(new Error('the embedded engine cannot be taken down separately')),
  up: () => Promise.reject(new Error('the embedded engine cannot be taken down separately')),
  close: async () => undefined,
};

/** The bridge process: chDB behind ClickHouse's HTTP interface. */
export class Bridge {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly output: string[] = [];

  private constructor(
    readonly dir: string,
    public port: number,
    private readonly args: string[],
  ) {}

  /** `args`: more bridge options (--users, --log, --custom-settings-prefixes; see clickhouse-bridge.ts). */
  static async start(o: { dir?: string; port?: number; args?: string[] } = {}): Promise<Bridge> {
    const b = new Bridge(o.dir ?? (await tempDir('palisade-bridge-')), o.port ?? 0, o.args ?? []);
    await b.spawn();
    return b;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async spawn(): Promise<void> {
    const proc = spawn(process.execPath, [...scriptArgv('test/helpers/clickhouse-bridge.ts'), '--path', this.dir, '--port', String(this.port), ...this.args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => this.output.push(d));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`bridge did not start within 60 s:\n${this.output.join('')}`)), 60_000);
      proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bridge exited with ${code} during start:\n${this.output.join('')}`));
      });
    });
    this.port = port;
  }

  /** SIGKILL: ClickHouse vanishes mid-request, as a crashed server or a cut network does. */
  async kill(): Promise<void> {
    if (this.running) this.proc?.kill('SIGKILL');
    await this.exited;
  }

  /** Starts again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.kill();
    // The port was just released; retry briefly in case the kernel has not let go yet.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawn();
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    if (this.running) this.proc?.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A TCP proxy in this process, so a real server can be made unreachable without touching it. */
class Proxy {
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  async listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(this.target.port || (this.target.protocol === 'https:' ? 443 : 80)), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

class ServerBackend implements Backend {
  readonly kind = 'server' as const;

  private constructor(
    readonly label: string,
    private readonly url: () => string,
    private readonly auth: { user: string; password: string },
    private readonly database: string,
    private readonly control: { down(): Promise<void>; up(): Promise<void>; close(): Promise<void>; pid?(): number | undefined },
  ) {}

  static async bridge(): Promise<ServerBackend> {
    const bridge = await Bridge.start();
    return new ServerBackend('bridge', () => bridge.url, { user: 'default', password: '' }, 'palisade', {
      down: () => bridge.kill(),
      up: () => bridge.restart(),
      pid: () => bridge.pid,
      close: async () => {
        await bridge.stop();
        await removeDir(bridge.dir);
      },
    });
  }

  static async real(url: string): Promise<ServerBackend> {
    const target = new URL(url);
    const proxy = new Proxy(target);
    await proxy.listen();
    const scheme = target.protocol;
    const database = `palisade_test_${randomBytes(6).toString('hex')}`;
    const auth = { user: process.env.CLICKHOUSE_USER ?? 'default', password: process.env.CLICKHOUSE_PASSWORD ?? '' };
    const backend: ServerBackend = new ServerBackend('clickhouse-server', () => `${scheme}//127.0.0.1:${proxy.port}`, auth, database, {
      down: () => proxy.close(),
      up: () => proxy.listen(),
      close: async () => {
        const wh = await backend.open();
        try {
          await wh.command(`DROP DATABASE IF EXISTS \`${database}\``);
        } finally {
          await wh.close();
          await proxy.close();
        }
      },
    });
    return backend;
  }

  env(): Record<string, string> {
    return {
      CLICKHOUSE_URL: this.url(),
      CLICKHOUSE_USER: this.auth.user,
      CLICKHOUSE_PASSWORD: this.auth.password,
      CLICKHOUSE_DATABASE: this.database,
      // Short enough that a call into a dead server fails fast in a test.
      CLICKHOUSE_TIMEOUT_MS: '10000',
    };
  }

  async open(): Promise<Warehouse> {
    return await ClickHouseServerWarehouse.open({ url: this.url(), ...this.auth, database: this.database, timeoutMs: 30_000 });
  }

  enginePid(): number | undefined {
    return this.control.pid?.();
  }

  down(): Promise<void> {
    return this.control.down();
  }

  up(): Promise<void> {
    return this.control.up();
  }

  async close(): Promise<void> {
    await this.control.close();
  }
}

/** The server path for this run: the real ClickHouse at CLICKHOUSE_URL if set, else the bridge. */
export async function serverBackend(): Promise<Backend> {
  const url = process.env.CLICKHOUSE_URL;
  return url ? await ServerBackend.real(url) : await ServerBackend.bridge();
}
