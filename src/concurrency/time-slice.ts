/**
 * Gives the event loop back during long loops that share it with requests.
 * The flush lane decrypts, decodes and assembles a cycle's rows on the
 * request thread; with batches under load a cycle was one unbroken run of up
 * to ~46 ms (a CPU profile of the bench's load), and every request that
 * arrived meanwhile waited it out: that was the batch p99. A loop asks
 * `due()` between units of work (a frame, a record, a tenant) and, once the
 * slice's budget is spent, awaits `pause()`: setImmediate lets the sockets,
 * fsync completions and timers waiting behind it run first, then the loop
 * resumes. Checking costs one performance.now().
 *
 * Fair share, not politeness: the next slice's budget is as long as the
 * pause was (within [budgetMs, maxBudgetMs]), so under load the loop still
 * gets about half of the thread. With a fixed 2 ms slice the requests took
 * ~90 % of it, the flusher fell behind the load, and its backlog grew for as
 * long as the load lasted.
 */
export class TimeSlice {
  private started = performance.now();
  private budget: number;

  constructor(
    private readonly budgetMs = 2,
    private readonly maxBudgetMs = 20,
  ) {
    this.budget = budgetMs;
  }

  /** This slice's budget, in ms: the base at first, then as long as the last pause was, within the cap. */
  get sliceMs(): number {
    return this.budget;
  }

  /** Has this slice run past its budget since it started (or last paused)? */
  due(): boolean {
    return performance.now() - this.started >= this.budget;
  }

  /** Lets everything already waiting on the event loop run, then starts a new slice as long as the wait was. */
  async pause(): Promise<void> {
    const from = performance.now();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.started = performance.now();
    this.budget = Math.min(this.maxBudgetMs, Math.max(this.budgetMs, this.started - from));
  }

  /** `pause()` if the slice is due; otherwise nothing (not even a microtask). */
  maybePause(): Promise<void> | undefined {
    return this.due() ? this.pause() : undefined;
  }
}
