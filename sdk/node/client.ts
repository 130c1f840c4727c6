/**
 * The Node SDK: Segment-style calls (track, page, screen, identify, group,
 * alias) that queue in memory, go out in gzipped batches by size and by time,
 * and are retried on network errors, 429 and 5xx with backoff and jitter
 * (never sooner than Retry-After), never on other 4xx. Nothing is lost
 * quietly: each event ends in exactly one of delivered, rejected
 * (`onRejected`: refused as invalid, by our schema check or by the server)
 * or dropped (`onDrop`: queue full, retries exhausted, refused request,
 * shutdown deadline), and `stats()` counts all four.
 */
import { randomUUID } from 'node:crypto';
import { WireEventSchema } from '../../schemas/wire.ts';
import { backoffMs, classify, retryAfterMs } from '../shared/retry.ts';
import { Transport } from './transport.ts';
import type {
  AliasMessage,
  DropReason,
  Event,
  GroupMessage,
  IdentifyMessage,
  PageMessage,
  PalisadeOptions,
  PalisadeStats,
  Rejection,
  ScreenMessage,
  TrackMessage,
} from './types.ts';

export const VERSION = '0.1.0';

interface Item {
  event: Event;
  json: string;
  bytes: number;
  seq: number;
}

type Settings = Required<Omit<PalisadeOptions, 'ca' | 'onDrop' | 'onRejected'>> & Pick<PalisadeOptions, 'onDrop' | 'onRejected'>;

export class Palisade {
  private readonly o: Settings;
  private readonly transport: Transport;
  private queue: Item[] = [];
  private queuedBytes = 0;
  private readonly inFlight = new Set<Item[]>();
  private seq = 0;
  private readonly waiters: { upTo: number; resolve: () => void }[] = [];
  private readonly sleeps = new Set<() => void>();
  private readonly abort = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;
  private readonly counts = { enqueued: 0, delivered: 0, rejected: 0, dropped: 0, retries: 0 };
  // A script that ends without shutdown() still sends what it queued.
  private readonly beforeExit = () => this.pump(true);

  constructor(options: PalisadeOptions) {
    if (!options.token || !options.host) throw new TypeError('new Palisade({ token, host }): both are required');
    this.o = {
      flushAt: 250,
      flushInterval: 1_000,
      maxBatchBytes: 450 * 1024,
      maxQueueSize: 20_000,
      maxInFlight: 2,
      maxAttempts: 10,
      retryDelay: 200,
      maxRetryDelay: 30_000,
      timeout: 15_000,
      compress: true,
      ...options,
    };
    this.transport = new Transport({ host: this.o.host, token: this.o.token, ca: options.ca, timeout: this.o.timeout, compress: this.o.compress });
    this.timer = setInterval(() => this.pump(true), this.o.flushInterval).unref();
    process.on('beforeExit', this.beforeExit);
  }

  track(message: TrackMessage): boolean {
    return this.enqueue({ ...message, type: 'track' });
  }

  page(message: PageMessage): boolean {
    return this.enqueue({ ...message, type: 'page' });
  }

  screen(message: ScreenMessage): boolean {
    return this.enqueue({ ...message, type: 'screen' });
  }

  identify(message: IdentifyMessage): boolean {
    return this.enqueue({ ...message, type: 'identify' });
  }

  group(message: GroupMessage): boolean {
    return this.enqueue({ ...message, type: 'group' });
  }

  alias(message: AliasMessage): boolean {
    return this.enqueue({ ...message, type: 'alias' });
  }

  /** Resolves once every event queued before the call is delivered, rejected or dropped. */
  flush(): Promise<void> {
    const upTo = this.seq;
    return new Promise<void>((resolve) => {
      this.waiters.push({ upTo, resolve });
      this.settle();
      this.pump(true);
    });
  }

  /**
   * Stop taking events, send everything, and wait until the server has
   * answered for all of it. With `timeout` (ms), whatever is still unsettled
   * then is abandoned and reported through onDrop('shutdown'): events whose
   * request was cut mid-flight may or may not have been stored.
   */
  shutdown(o: { timeout?: number } = {}): Promise<void> {
    return (this.closing ??= (async () => {
      clearInterval(this.timer);
      process.off('beforeExit', this.beforeExit);
      const done = this.flush();
      const deadline = o.timeout === undefined ? undefined : setTimeout(() => this.abandon(), o.timeout);
      await done;
      clearTimeout(deadline);
      await this.transport.close();
    })());
  }

  stats(): PalisadeStats {
    let inFlight = 0;
    for (const b of this.inFlight) inFlight += b.length;
    return { ...this.counts, queued: this.queue.length, inFlight };
  }

  private enqueue(message: Record<string, unknown>): boolean {
    const event = {
      ...message,
      messageId: typeof message.messageId === 'string' ? message.messageId : randomUUID(),
      timestamp: typeof message.timestamp === 'string' ? message.timestamp : new Date().toISOString(),
      context: { ...(message.context as object | undefined), library: { name: 'palisade-node', version: VERSION } },
    } as unknown as Event;
    if (this.closing) {
      this.drop([event], 'shutdown');
      return false;
    }
    const valid = WireEventSchema.safeParse(event);
    if (!valid.success) {
      const issue = valid.error.issues[0];
      this.reject(event, { code: 'invalid_event', message: `${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}` });
      return false;
    }
    const json = JSON.stringify(event);
    const bytes = Buffer.byteLength(json);
    if (bytes > this.o.maxBatchBytes) {
      this.reject(event, { code: 'event_too_large', message: `${bytes} bytes, over maxBatchBytes (${this.o.maxBatchBytes})` });
      return false;
    }
    if (this.queue.length >= this.o.maxQueueSize) {
      this.drop([event], 'queue_full');
      return false;
    }
    this.queue.push({ event, json, bytes, seq: ++this.seq });
    this.queuedBytes += bytes + 1;
    this.counts.enqueued++;
    this.pump(false);
    return true;
  }

  /** Start requests while slots are free: full batches always, partial ones when `force` (timer, flush, exit). */
  private pump(force: boolean): void {
    while (this.inFlight.size < this.o.maxInFlight && this.queue.length > 0) {
      const full = this.queue.length >= this.o.flushAt || this.queuedBytes >= this.o.maxBatchBytes;
      if (!full && !force && this.waiters.length === 0) return;
      const batch = this.take();
      this.inFlight.add(batch);
      void this.deliver(batch).finally(() => {
        this.inFlight.delete(batch);
        this.settle();
        this.pump(false);
      });
    }
  }

  private take(): Item[] {
    let n = 0;
    let bytes = 0;
    for (const item of this.queue) {
      if (n >= this.o.flushAt || (n > 0 && bytes + item.bytes + 1 > this.o.maxBatchBytes)) break;
      n++;
      bytes += item.bytes + 1;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, n);
  }

  private async deliver(items: Item[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.abort.signal.aborted) return this.drop(items.map((i) => i.event), 'shutdown');
      const body = `{"batch":[${items.map((i) => i.json).join(',')}],"sentAt":${JSON.stringify(new Date().toISOString())}}`;
      const r = await this.transport.send(body, this.abort.signal);
      const outcome = classify(r.status);
      if (outcome === 'ok') {
        const refused = new Set<number>();
        for (const x of r.rejected ?? []) {
          const item = items[x.index];
          if (!item || refused.has(x.index)) continue;
          refused.add(x.index);
          this.reject(item.event, { code: x.code, message: x.message });
        }
        this.counts.delivered += items.length - refused.size;
        return;
      }
      if (r.status === 413) {
        // Too big for this server's limits: halve until it fits; one event alone is refused.
        const [only] = items;
        if (items.length === 1 && only) return this.reject(only.event, { code: 'payload_too_large', message: r.error?.message ?? '413' });
        const half = items.length >> 1;
        await Promise.all([this.deliver(items.slice(0, half)), this.deliver(items.slice(half))]);
        return;
      }
      if (outcome === 'fatal') return this.drop(items.map((i) => i.event), 'client_error', r.error);
      if (this.abort.signal.aborted) return this.drop(items.map((i) => i.event), 'shutdown', r.error);
      if (attempt + 1 >= this.o.maxAttempts) return this.drop(items.map((i) => i.event), 'retries_exhausted', r.error);
      this.counts.retries++;
      await this.sleep(backoffMs(attempt, { baseMs: this.o.retryDelay, maxMs: this.o.maxRetryDelay, retryAfterMs: retryAfterMs(r.retryAfter) }));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.sleeps.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleeps.add(wake);
    });
  }

  /** The shutdown deadline passed: cut requests, stop retrying, report what is left. */
  private abandon(): void {
    this.abort.abort();
    for (const wake of [...this.sleeps]) wake();
    const rest = this.queue.splice(0);
    this.queuedBytes = 0;
    if (rest.length > 0) this.drop(rest.map((i) => i.event), 'shutdown');
    this.settle();
  }

  /** Resolve flush() calls whose events have all settled. */
  private settle(): void {
    let low = this.queue[0]?.seq ?? Number.POSITIVE_INFINITY;
    for (const b of this.inFlight) low = Math.min(low, b[0]?.seq ?? low);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.upTo < low) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private drop(events: Event[], reason: DropReason, error?: Error): void {
    this.counts.dropped += events.length;
    if (this.o.onDrop) this.o.onDrop(events, reason, error);
    else process.emitWarning(`palisade: dropped ${events.length} event(s): ${reason}${error ? ` (${error.message})` : ''}`, { code: 'PALISADE_DROP' });
  }

  private reject(event: Event, r: Rejection): void {
    this.counts.rejected++;
    if (this.o.onRejected) this.o.onRejected(event, r);
    else process.emitWarning(`palisade: event ${event.messageId} rejected: ${r.code}: ${r.message}`, { code: 'PALISADE_REJECTED' });
  }
}
