/**
 * The Node SDK's message types, derived from the wire contract in schemas/
 * (the same zod schemas the server validates with): a message is a wire
 * event without its `type`, which the method name supplies.
 */
import type { WireEventInput } from '../../schemas/wire.ts';

type Message<T extends WireEventInput['type']> = Omit<Extract<WireEventInput, { type: T }>, 'type' | 'writeKey'>;

export type TrackMessage = Message<'track'>;
export type PageMessage = Message<'page'>;
export type ScreenMessage = Message<'screen'>;
export type IdentifyMessage = Message<'identify'>;
export type GroupMessage = Message<'group'>;
export type AliasMessage = Message<'alias'>;
export type Event = WireEventInput & { messageId: string; timestamp: string };

/** Why events will never reach Palisade. */
export type DropReason =
  | 'queue_full'
  | 'event_too_large'
  | 'retries_exhausted'
  | 'client_error'
  | 'shutdown';

/** An event Palisade (or the SDK's own check against the same schema) refused. */
export interface Rejection {
  code: string;
  message: string;
}

export interface PalisadeOptions {
  /** An ingest key: `pal_sk_…`. */
  token: string;
  /** Palisade's API origin, e.g. https://palisade.example.com:8443. */
  host: string;
  /** Extra trusted CA certificate(s) in PEM, e.g. a self-signed server's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Events per request. Default 250. */
  flushAt?: number;
  /** Send at least this often while events wait, in ms. Default 1000. */
  flushInterval?: number;
  /** Uncompressed JSON bytes per request. Default 450 KiB (the server takes 500 KB per request, 1 MiB inflated). */
  maxBatchBytes?: number;
  /** Events waiting in memory at most; past it new events are dropped ('queue_full'). Default 20,000. */
  maxQueueSize?: number;
  /** Requests in flight at once. Default 2. */
  maxInFlight?: number;
  /** Attempts per request before its events are dropped ('retries_exhausted'). Default 10. */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt (with jitter) up to maxRetryDelay. Defaults 200 ms / 30 s. */
  retryDelay?: number;
  maxRetryDelay?: number;
  /** Per-request timeout in ms. Default 15,000. */
  timeout?: number;
  /** gzip request bodies. Default true. */
  compress?: boolean;
  /** Called with events that will never be delivered. Default: a process warning. */
  onDrop?: (events: Event[], reason: DropReason, error?: Error) => void;
  /** Called for each event refused as invalid, by the server or by the SDK's schema check. Default: a process warning. */
  onRejected?: (event: Event, rejection: Rejection) => void;
}

export interface PalisadeStats {
  /** Accepted into the queue. */
  enqueued: number;
  /** Acknowledged by the server. */
  delivered: number;
  rejected: number;
  dropped: number;
  /** Retried requests. */
  retries: number;
  /** Waiting in memory, not yet sent. */
  queued: number;
  /** In requests that have not settled yet (including backoff waits). */
  inFlight: number;
}
