/**
 * The snippet's public API, Segment-shaped: init, track, page, identify,
 * group, alias, reset, optOut/optIn, flush. Identity (anonymousId, userId,
 * traits) and consent live in localStorage on the site's own origin: no
 * cookies, nothing third-party.
 */
import { eventContext, pageInfo, uuid } from './context.ts';
import { TabQueue } from './queue.ts';
import { Sender } from './sender.ts';
import * as store from './store.ts';
import type { InitOptions, Props, QueuedEvent } from './types.ts';

const AID = 'palisade:aid';
const UID = 'palisade:uid';
const TRAITS = 'palisade:traits';
const OPT_OUT = 'palisade:optout';

type Call = [method: string, args: unknown[], at?: number];

function readTraits(): Props {
  try {
    const t: unknown = JSON.parse(store.get(TRAITS) ?? '{}');
    return t && typeof t === 'object' && !Array.isArray(t) ? (t as Props) : {};
  } catch {
    return {};
  }
}

export class Palisade {
  private o: Required<Pick<InitOptions, 'respectDnt' | 'autoPage' | 'flushAt' | 'flushInterval' | 'maxQueue'>> & InitOptions = {
    respectDnt: false,
    autoPage: true,
    flushAt: 20,
    flushInterval: 3_000,
    maxQueue: 1_000,
  };
  private q: TabQueue | undefined;
  private sender: Sender | undefined;
  private pending: Call[] = [];
  /** Consent withdrawn in this page even if localStorage is unavailable. */
  private optedOut = false;
  private aidMemo = '';
  /** The time a call was made, when it is replayed later from the loader stub. */
  private at: number | undefined;
  private href = '';
  private referrer = '';

  constructor(private readonly defaultHost = '') {}

  init(writeKey: string, options: InitOptions = {}): this {
    if (this.q) return this;
    Object.assign(this.o, options);
    const host = (this.o.host ?? this.defaultHost).replace(/\/+$/, '');
    const q = (this.q = new TabQueue(writeKey, this.o.maxQueue, (e, r) => this.dropped(e, r)));
    const sender = (this.sender = new Sender(host + '/v1/batch', writeKey, q, () => this.off(), (e, r) => this.dropped(e, r)));
    this.referrer = document.referrer;
    void q.open().then(() => this.tick());
    addEventListener('pagehide', () => {
      sender.beacon();
      q.close();
    });
    addEventListener('pageshow', (e) => {
      if (e.persisted) void q.open();
    });
    addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') void sender.send(true);
    });
    addEventListener('online', () => void sender.send(true));
    setInterval(() => void q.adopt().then(() => this.tick()), this.o.flushInterval);
    if (this.o.autoPage) this.watchHistory();
    const calls = this.pending;
    this.pending = [];
    for (const [m, args, at] of calls) this.call(m, args, at);
    return this;
  }

  /** Replays a call made before the script loaded (or before init), with its original time. */
  call(method: string, args: unknown[], at?: number): void {
    const fn = (this as unknown as Record<string, unknown>)[method];
    if (method === 'init' || method === 'call' || method.startsWith('_') || typeof fn !== 'function') return;
    this.at = at;
    try {
      (fn as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      this.at = undefined;
    }
  }

  track(event: string, properties: Props = {}): void {
    if (this.early('track', [event, properties])) return;
    this.enqueue({ type: 'track', event, properties });
  }

  /** page(), page(name), page(name, properties), page(category, name, properties) or page(properties). */
  page(...args: (string | Props | undefined)[]): void {
    if (this.early('page', args)) return;
    const props = typeof args[args.length - 1] === 'object' ? (args.pop() as Props) : {};
    const [a, b] = args as (string | undefined)[];
    const name = b ?? a;
    const p = pageInfo(this.referrer);
    this.enqueue({
      type: 'page',
      ...(name ? { name } : {}),
      ...(b && a ? { category: a } : {}),
      properties: { ...p, ...props },
    });
  }

  identify(userId?: string | Props, traits: Props = {}): void {
    if (typeof userId === 'object') [userId, traits] = [undefined, userId];
    if (this.early('identify', [userId, traits]) || this.off()) return;
    if (userId !== undefined) store.set(UID, String(userId));
    const all = { ...readTraits(), ...traits };
    store.set(TRAITS, JSON.stringify(all));
    this.enqueue({ type: 'identify', traits: all });
  }

  group(groupId: string, traits: Props = {}): void {
    if (this.early('group', [groupId, traits])) return;
    this.enqueue({ type: 'group', groupId, traits });
  }

  alias(userId: string, previousId?: string): void {
    if (this.early('alias', [userId, previousId]) || this.off()) return;
    this.enqueue({ type: 'alias', previousId: previousId ?? store.get(UID) ?? this.anonymousId(), userId });
    store.set(UID, userId);
  }

  /** Forget the user (logout): a new anonymous id, no userId, no traits. */
  reset(): void {
    for (const k of [AID, UID, TRAITS]) store.del(k);
    this.aidMemo = '';
  }

  /** Withdraw consent: remembered on this site, queued events discarded, nothing sent from now on. */
  optOut(): void {
    this.optedOut = true;
    store.set(OPT_OUT, '1');
    this.reset();
    this.q?.clear();
  }

  optIn(): void {
    this.optedOut = false;
    store.del(OPT_OUT);
  }

  /** Send what is queued now. Resolves true when everything was delivered, false when some waits for a retry. */
  flush(): Promise<boolean> {
    return this.sender ? this.sender.send(true) : Promise.resolve(false);
  }

  anonymousId(): string {
    let id = store.get(AID) ?? this.aidMemo;
    if (!id) store.set(AID, (id = uuid()));
    return (this.aidMemo = id);
  }

  private off(): boolean {
    const w = window as unknown as { doNotTrack?: string };
    const dnt = navigator.doNotTrack === '1' || w.doNotTrack === '1';
    return this.optedOut || store.get(OPT_OUT) === '1' || (this.o.respectDnt && dnt);
  }

  /** Before init, calls wait (with their time) and run once init has been called. */
  private early(method: string, args: unknown[]): boolean {
    if (this.q) return false;
    this.pending.push([method, args, this.at ?? Date.now()]);
    return true;
  }

  private enqueue(fields: Record<string, unknown>): void {
    if (!this.q || this.off()) return;
    const userId = store.get(UID);
    const e = {
      anonymousId: this.anonymousId(),
      ...(userId ? { userId } : {}),
      ...fields,
      messageId: uuid(),
      timestamp: new Date(this.at ?? Date.now()).toISOString(),
      context: eventContext(pageInfo(this.referrer)),
    } as QueuedEvent;
    this.q.push(e);
    if (this.q.events.length >= this.o.flushAt) void this.sender?.send();
  }

  private tick(): void {
    if (this.q?.events.length && !this.sender?.backingOff) void this.sender?.send();
  }

  private dropped(events: QueuedEvent[], reason: string): void {
    if (this.o.onDrop) this.o.onDrop(events, reason);
    else console.warn(`palisade: dropped ${events.length} event(s): ${reason}`);
  }

  /** A page event on load and whenever a single-page app changes the URL through the history API. */
  private watchHistory(): void {
    const changed = () => {
      const href = location.href.split('#')[0] ?? '';
      if (href === this.href) return;
      if (this.href) this.referrer = this.href;
      this.href = href;
      // Routers set document.title after pushState; read it once they have.
      setTimeout(() => this.page(), 0);
    };
    for (const m of ['pushState', 'replaceState'] as const) {
      const orig = history[m];
      history[m] = function (this: History, ...a: Parameters<History['pushState']>) {
        orig.apply(this, a);
        changed();
      };
    }
    addEventListener('popstate', changed);
    changed();
  }
}
