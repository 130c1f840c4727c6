/**
 * The persisted queue. Every page (tab) writes its unsent events under its
 * own localStorage key and holds a Web Lock of the same name for as long as
 * it lives, so two tabs never send the same stored events:
 *
 * - a page only ever sends from its own queue;
 * - a queue whose lock is free belongs to a page that is gone (closed,
 *   reloaded, crashed: the browser releases a dead page's locks itself), and
 *   another page of the site takes it over inside that lock
 *   (`ifAvailable`), so exactly one page adopts it;
 * - a page releases its lock on `pagehide`, so the next page of a reload or
 *   a navigation picks its leftovers up at once.
 *
 * Browsers without Web Locks (Safari < 15.4, Firefox < 96) fall back to
 * renaming the key at pagehide (`…!`) and adopting only renamed keys; two
 * pages adopting the same key in the same millisecond would both send it,
 * which the server's messageId dedup absorbs.
 */
import { uuid } from './context.ts';
import * as store from './store.ts';
import type { QueuedEvent } from './types.ts';

const PREFIX = 'palisade:q:';
// localStorage holds ~5 MB per origin and the site shares it with us: 1 M
// characters (~1-2 MB) is ~1,500 typical events, a long offline stretch.
const MAX_CHARS = 1_000_000;

export class TabQueue {
  events: QueuedEvent[] = [];
  private key = '';
  private release: (() => void) | undefined;
  private dirty = false;

  constructor(
    private readonly ns: string,
    private readonly max: number,
    private readonly drop: (events: QueuedEvent[], reason: string) => void,
  ) {}

  /** Claim a fresh key for this page (under its own lock), then adopt orphaned queues. */
  async open(): Promise<void> {
    const key = PREFIX + this.ns + ':' + uuid();
    const locks = navigator.locks;
    if (locks) {
      await new Promise<void>((granted) => {
        locks
          .request(key, () => new Promise<void>((done) => {
            this.release = done;
            granted();
          }))
          .catch(() => granted());
      });
    }
    this.key = key;
    this.save();
    await this.adopt();
  }

  /** The page is going away or into the back/forward cache: leave the queue for the next page. */
  close(): void {
    if (!this.key) return;
    this.save();
    if (this.release) {
      this.release();
      this.release = undefined;
    } else {
      const v = store.get(this.key);
      if (v) store.set(this.key + '!', v);
      store.del(this.key);
    }
    this.key = '';
  }

  async adopt(): Promise<void> {
    const locks = navigator.locks;
    for (const k of store.keys(PREFIX + this.ns + ':')) {
      if (k === this.key || !this.key) continue;
      if (locks) await locks.request(k, { ifAvailable: true }, (lock) => lock && this.take(k)).catch(() => undefined);
      else if (k.endsWith('!')) this.take(k);
    }
  }

  private take(k: string): void {
    const raw = store.get(k);
    store.del(k);
    let list: unknown;
    try {
      list = JSON.parse(raw ?? '[]');
    } catch {
      return;
    }
    if (!Array.isArray(list)) return;
    const have = new Set(this.events.map((e) => e.messageId));
    const older = (list as QueuedEvent[]).filter((e) => e && typeof e.messageId === 'string' && !have.has(e.messageId));
    this.events = older.concat(this.events);
    this.save();
  }

  push(e: QueuedEvent): void {
    this.events.push(e);
    this.touch();
  }

  remove(sent: QueuedEvent[]): void {
    const ids = new Set(sent.map((e) => e.messageId));
    this.events = this.events.filter((e) => !ids.has(e.messageId));
    this.touch();
  }

  clear(): void {
    this.events = [];
    this.save();
  }

  /** Coalesce the writes of one task (a burst of track calls) into one. */
  private touch(): void {
    if (this.dirty) return;
    this.dirty = true;
    queueMicrotask(() => this.save());
  }

  save(): void {
    this.dirty = false;
    const over = this.events.length - this.max;
    if (over > 0) this.drop(this.events.splice(0, over), 'queue_full');
    if (!this.key) return;
    if (this.events.length === 0) {
      store.del(this.key);
      return;
    }
    let json = JSON.stringify(this.events);
    while (json.length > MAX_CHARS && this.events.length > 1) {
      this.drop(this.events.splice(0, Math.ceil(this.events.length / 10)), 'queue_full');
      json = JSON.stringify(this.events);
    }
    // A full quota (the site's own data) costs persistence, not events: they stay in memory.
    store.set(this.key, json);
  }
}
