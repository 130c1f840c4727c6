/**
 * Delivery: batches over fetch while the page lives, sendBeacon when it goes
 * away. Bodies are text/plain with the publishable key as `writeKey`, which
 * makes every request a CORS "simple request": no preflight round trip, and
 * the same body works for fetch and for sendBeacon (which cannot set headers).
 */
import { backoffMs, classify, retryAfterMs } from '../../shared/retry.ts';
import type { TabQueue } from './queue.ts';
import type { QueuedEvent } from './types.ts';

// Browsers cap the bytes of all pending keepalive/beacon requests of a page at 64 KiB.
const BEACON_BYTES = 60_000;
const BATCH_EVENTS = 100;
// The server takes 500 KB per request; stay clear of it.
const BATCH_BYTES = 400_000;

interface Response200 {
  rejected?: { index: number; code: string; message: string }[];
}

export class Sender {
  private sending: Promise<boolean> | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly url: string,
    private readonly writeKey: string,
    private readonly q: TabQueue,
    private readonly off: () => boolean,
    private readonly drop: (events: QueuedEvent[], reason: string) => void,
  ) {}

  body(batch: QueuedEvent[]): string {
    return JSON.stringify({ batch, sentAt: new Date().toISOString(), writeKey: this.writeKey });
  }

  /** Send everything queued; true when the queue is empty afterwards. One drain at a time. */
  send(now = false): Promise<boolean> {
    if (now) this.attempt = 0;
    return (this.sending ??= this.drain().finally(() => (this.sending = undefined)));
  }

  /** A retry is already scheduled: wait for it rather than hammering a failing server. */
  get backingOff(): boolean {
    return this.retryTimer !== undefined;
  }

  private take(): QueuedEvent[] {
    const batch: QueuedEvent[] = [];
    let bytes = 0;
    for (const e of this.q.events) {
      const n = JSON.stringify(e).length;
      if (batch.length > 0 && (batch.length >= BATCH_EVENTS || bytes + n > BATCH_BYTES)) break;
      batch.push(e);
      bytes += n;
    }
    return batch;
  }

  private async drain(): Promise<boolean> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    while (this.q.events.length > 0) {
      if (this.off()) {
        this.q.clear();
        break;
      }
      const batch = this.take();
      const body = this.body(batch);
      let status = 0;
      let retryAfter: string | null = null;
      let result: Response200 | null = null;
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'text/plain' },
          credentials: 'omit',
          // A tab being hidden may never run again: let the request outlive it.
          keepalive: document.visibilityState === 'hidden' && body.length < BEACON_BYTES,
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        if (status === 200) result = (await res.json().catch(() => null)) as Response200 | null;
      } catch {
        // Offline, DNS, TLS, or a response CORS hides from us: all "try again later".
      }
      const outcome = classify(status);
      if (outcome === 'retry') {
        const delay = backoffMs(this.attempt++, { baseMs: 1_000, maxMs: 60_000, retryAfterMs: retryAfterMs(retryAfter) });
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.send();
        }, delay);
        return false;
      }
      this.attempt = 0;
      this.q.remove(batch);
      if (outcome === 'fatal') this.drop(batch, `http_${status}`);
      for (const r of result?.rejected ?? []) {
        const e = batch[r.index];
        if (e) this.drop([e], `${r.code}: ${r.message}`);
      }
    }
    return true;
  }

  /**
   * The page is going away: hand what is queued to the browser, which sends
   * it after the page is gone. The events stay in the stored queue, because a
   * beacon's fate is unknowable (offline, server down); the next page of the
   * site sends them again and the server keeps each messageId once.
   */
  beacon(): void {
    if (this.off() || !navigator.sendBeacon) return;
    let batch: QueuedEvent[] = [];
    let size = 200;
    for (const e of this.q.events) {
      size += JSON.stringify(e).length + 1;
      if (size > BEACON_BYTES) break;
      batch.push(e);
    }
    // Characters are not bytes: if non-ASCII text pushed it over the cap, halve.
    while (batch.length > 0 && !navigator.sendBeacon(this.url, this.body(batch))) batch = batch.slice(0, batch.length >> 1);
  }
}
