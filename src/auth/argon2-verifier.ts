/**
 * argon2id verification in a process of its own at the lowest CPU priority.
 *
 * Every wrong secret for a known key id costs one verification (~25 ms of a
 * core) until the key's cool-down engages, so an attacker decides when they
 * run. On the server's libuv pool they ran at the priority of the requests
 * they competed with: in the bench's attack scenario on 2 cores, the ~50
 * verifications before the cool-down took both cores for ~3 s (per-thread
 * CPU sampled every 250 ms), and the legitimate client's p99 (its credential
 * cached, no argon2 of its own) went from ~15 ms to 460-2,000 ms.
 *
 * So they run in a child process at nice 19 (src/auth/argon2-child.cjs),
 * which uses what CPU serving leaves; on an idle machine they are as fast as
 * before. A process rather than worker threads: the `argon2` package runs on
 * the libuv pool, which a process shares with its spool's fsyncs, and a
 * library with a synchronous verify for a low-priority thread
 * (@node-rs/argon2) ships its binary as an optional dependency, which the
 * production image's `npm ci --omit=optional` (leaving out chDB) drops.
 * The child starts at the first verification and ends with its parent.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';

type Answer = (r: boolean | Error) => void;

export class Argon2Verifier {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Answer>();
  private nextId = 0;
  /** Whether the current child runs at nice 19 (false where the OS refused). */
  niced = false;

  /** `concurrency`: verifications at once (the child's libuv pool size; the caller queues beyond that). */
  constructor(private readonly concurrency: number) {}

  verify(hash: string, secret: string): Promise<boolean> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    if (this.pending.size === 0) this.hold(child, true);
    return new Promise<boolean>((resolve, reject) => {
      this.pending.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      child.send({ id, hash, secret });
    });
  }

  /** The child's pid, while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the child; verifications in flight are refused. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.hold(child, true);
    child.kill('SIGTERM');
    await exited;
  }

  /** While verifications are pending the child keeps this process alive to hear them; idle, it never does (a server stops through its modules, a test just ends). */
  private hold(child: ChildProcess, on: boolean): void {
    if (on) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }

  private start(): ChildProcess {
    const child = fork(new URL('./argon2-child.cjs', import.meta.url), [], {
      // Not the server's own flags (a CPU profile, a loader): just the script.
      execArgv: [],
      env: { ...process.env, UV_THREADPOOL_SIZE: String(this.concurrency) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, 19);
      this.niced = child.pid !== undefined;
    } catch {
      this.niced = false;
    }
    child.on('message', (m: { id: number; ok?: boolean; failed?: boolean }) => {
      const answer = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.hold(child, false);
      answer?.(m.failed ? new Error('argon2 could not read the stored hash') : m.ok === true);
    });
    // A child that dies, or cannot start (then 'exit' may never come), takes its
    // verifications with it; the next call starts another.
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      for (const answer of this.pending.values()) answer(new Error(why));
      this.pending.clear();
    };
    child.once('exit', () => gone('the argon2 verifier process exited'));
    child.on('error', () => {
      gone('the argon2 verifier process failed');
      child.kill('SIGKILL');
    });
    this.hold(child, false);
    this.child = child;
    return child;
  }
}
