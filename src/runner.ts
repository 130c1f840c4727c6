/**
 * Start-up and shutdown as one mechanism. Modules are opened in order; the
 * runner remembers each one it opened, and on a failure (while opening or
 * starting) and at shutdown it unwinds them newest first, so nothing a
 * failed start-up opened is left open and nobody keeps a second cleanup list.
 *
 * Shutdown is two passes, newest module first each time (Fastify's preClose
 * and onClose): `drain` stops taking new work and finishes what is in hand
 * (listeners answer 503 and finish admitted requests, the flusher empties the
 * spool into ClickHouse) while everything below it is still open; `stop` then
 * releases what `open` acquired. A failing drain or stop is logged and the
 * unwinding goes on: one stuck part must not keep the spool or the engine open.
 */

/** When the two shutdown passes should be done by (epoch ms). */
export interface StopBudget {
  /** In-flight requests and the spool's flush-out finish by then. */
  drainBy: number;
  /** Sockets, files and clients are closed by then. */
  closeBy: number;
}

export interface Module {
  readonly name: string;
  /** Background work (timers, the flusher, listeners): after every module has opened, in order. */
  start?(): void | Promise<void>;
  /** Stop taking new work and finish what is in hand. */
  drain?(budget: StopBudget): void | Promise<void>;
  /** Release what opening acquired. */
  stop?(budget: StopBudget): void | Promise<void>;
  /** Its part of the admin health page: plain facts, read from memory. */
  health?(): Record<string, unknown>;
}

export type UnwindFailure = (module: string, phase: 'drain' | 'stop', err: unknown) => void;

/** A budget for an unwinding after a failed start-up: nothing is in flight, so nothing to wait for. */
export function immediateBudget(now = Date.now()): StopBudget {
  return { drainBy: now, closeBy: now + 1_000 };
}

export class Runner {
  private readonly opened: Module[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly onFailure: UnwindFailure) {}

  /** The module names, in the order they were opened. */
  get names(): string[] {
    return this.opened.map((m) => m.name);
  }

  /** Opens one module; if that throws, unwinds every module opened before it and rethrows. */
  async open<M extends Module>(opening: () => Promise<M> | M): Promise<M> {
    let module: M;
    try {
      module = await opening();
    } catch (err) {
      await this.stop(immediateBudget());
      throw err;
    }
    this.opened.push(module);
    return module;
  }

  /** Starts every opened module in order; if one throws, unwinds them all and rethrows. */
  async start(): Promise<void> {
    for (const m of this.opened) {
      try {
        await m.start?.();
      } catch (err) {
        await this.stop(immediateBudget());
        throw err;
      }
    }
  }

  /** Drains, then stops, every opened module, newest first. Safe to call twice (the second call waits for the first). */
  stop(budget: StopBudget): Promise<void> {
    return (this.stopping ??= (async () => {
      const newestFirst = [...this.opened].reverse();
      for (const m of newestFirst) await this.guard(m, 'drain', () => m.drain?.(budget));
      for (const m of newestFirst) await this.guard(m, 'stop', () => m.stop?.(budget));
    })());
  }

  private async guard(m: Module, phase: 'drain' | 'stop', run: () => void | Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.onFailure(m.name, phase, err);
    }
  }
}
