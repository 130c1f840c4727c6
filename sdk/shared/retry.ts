/**
 * The retry policy both SDKs share, so a browser and a server behave the same
 * way towards Palisade: retry what may succeed later (network failures, 408,
 * 429, 5xx), never what will not (any other 4xx), and wait at least as long
 * as the server's Retry-After says. Plain TypeScript with no imports: it is
 * bundled into the browser snippet.
 */

export type Outcome = 'ok' | 'retry' | 'fatal';

/** What to do with a response status; `0` means the request never got an answer. */
export function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 0 || status === 408 || status === 429 || status >= 500) return 'retry';
  return 'fatal';
}

/** Retry-After (seconds or an HTTP date) → milliseconds, or 0 when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : 0;
}

/**
 * Exponential backoff with "equal jitter": half of the exponential delay is
 * fixed and half random, so a fleet of clients that failed together spreads
 * out instead of returning in one wave, yet none retries almost at once.
 * The server's Retry-After is a floor, never shortened by the jitter.
 */
export function backoffMs(attempt: number, o: { baseMs: number; maxMs: number; retryAfterMs?: number }, random = Math.random): number {
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
  const delay = exp / 2 + (random() * exp) / 2;
  return Math.max(delay, Math.min(o.retryAfterMs ?? 0, 24 * 3_600_000));
}
