/**
 * The snippet's types come from the wire contract in schemas/, the same zod
 * schemas the server validates with. Only types are imported (erased at build
 * time), so zod itself never reaches the browser bundle.
 */
import type { WireEventInput } from '../../../schemas/wire.ts';

export type { WireEventInput };

/** What callers pass as properties or traits: anything JSON.stringify accepts. */
export type Props = Record<string, unknown>;

/** An event as the snippet queues it: always with its own messageId and timestamp. */
export type QueuedEvent = WireEventInput & { messageId: string; timestamp: string };

export interface InitOptions {
  /** Palisade's API origin, e.g. https://palisade.example.com. Default: where palisade.js was loaded from. */
  host?: string;
  /** Send nothing when the browser says Do-Not-Track. Default false. */
  respectDnt?: boolean;
  /** Send a page event on load and on every history (SPA) route change. Default true. */
  autoPage?: boolean;
  /** Send when this many events are queued. Default 20. */
  flushAt?: number;
  /** Send at least this often while events are queued, in ms. Default 3000. */
  flushInterval?: number;
  /** Events kept in localStorage at most; past it the oldest are dropped (and reported). Default 1000. */
  maxQueue?: number;
  /** Called with events that will never be delivered, and why. */
  onDrop?: (events: QueuedEvent[], reason: string) => void;
}
