/**
 * Runs async tasks one after another, in the order they were handed in: a
 * task starts once the one before it has settled, and a failure is its
 * caller's alone (the next task runs all the same). The flusher's cycles, the
 * audit log's batches, backups and retention enforcement each hold one.
 */
export class OneAtATime {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.last.then(task);
    this.last = result.catch(() => undefined);
    return result;
  }
}
