/**
 * argon2id verification on threads of its own at the lowest CPU priority.
 *
 * Every wrong secret for a known key id costs one verification (~15-25 ms of
 * a core) until the key's cool-down engages, so an attacker decides when they
 * run. On the libuv pool (the `argon2` package) they ran at the priority of
 * the requests they competed with: in the bench's attack scenario on 2 cores,
 * the ~50 verifications before the cool-down took both cores for ~3 s, and
 * the legitimate client's p99 (cached credentials, no argon2 of its own) went
 * from ~15 ms to 300-2,000 ms. Here each verifier thread lowers its own nice
 * value to 19 (src/auth/argon2-worker.cjs), so verifications use what CPU
 * serving leaves; on an idle machine they run as fast as before.
 */
import { Worker } from 'node:worker_threads';

interface Verifier {
  worker: Worker;
  /** Verifications sent to this thread and not yet answered, by id. */
  pending: Map<number, (ok: boolean | Error) => void>;
}

export class Argon2Verifier {
  private readonly verifiers: Verifier[] = [];
  private nextId = 0;
  /** Whether each thread lowered its priority (false off Linux), as the threads report it. */
  readonly niced: Promise<boolean>[] = [];

  /** `threads`: verifications at once (the caller queues beyond that). */
  constructor(private readonly threads: number) {}

  verify(hash: string, secret: string): Promise<boolean> {
    const v = this.leastBusy();
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      v.pending.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      v.worker.postMessage({ id, hash, secret });
    });
  }

  /** Ends the threads; verifications in flight are refused. */
  async close(): Promise<void> {
    await Promise.all(this.verifiers.splice(0).map((v) => v.worker.terminate()));
  }

  private leastBusy(): Verifier {
    if (this.verifiers.length >= this.threads) return this.verifiers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const worker = new Worker(new URL('./argon2-worker.cjs', import.meta.url));
    // Never what keeps the process alive: a server stops through its modules, a test just ends.
    worker.unref();
    const v: Verifier = { worker, pending: new Map() };
    this.verifiers.push(v);
    this.niced.push(new Promise<boolean>((resolve) => worker.once('message', (m: { niced: boolean }) => resolve(m.niced))));
    worker.on('message', (m: { id?: number; ok?: boolean }) => {
      if (m.id === undefined) return;
      const answer = v.pending.get(m.id);
      v.pending.delete(m.id);
      answer?.(m.ok === true);
    });
    // A thread that dies takes only its own verifications with it; the next call starts another.
    const dead = (err: Error) => {
      const i = this.verifiers.indexOf(v);
      if (i >= 0) this.verifiers.splice(i, 1);
      for (const answer of v.pending.values()) answer(err);
      v.pending.clear();
    };
    worker.on('error', dead);
    worker.on('exit', () => dead(new Error('the argon2 verifier thread exited')));
    return v;
  }
}
