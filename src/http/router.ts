/**
 * The router of both apps: Hono's default (SmartRouter: RegExpRouter, else
 * TrieRouter), with each method and path's match kept for the next request.
 *
 * Why: the API mixes `/v1/:path` with static siblings (`/v1/query`,
 * `/v1/audit`, …), which RegExpRouter cannot hold, so SmartRouter settles on
 * TrieRouter, and TrieRouter builds every match afresh: a params object per
 * matched handler, the handler list, a sort. That was ~5 KB of garbage and a
 * few µs per request on the ingest path, where every request names one of a
 * handful of paths. A match is a pure function of method and path, and Hono
 * only reads it (the context's params and the handler chain), so one result
 * can serve every request for that path.
 *
 * Bounded: at most MEMO_ENTRIES paths (then the memo starts again, so random
 * paths from a scanner cost what they cost before, nothing more), and a path
 * longer than MEMO_MAX_PATH is never kept.
 */
import type { Result, Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';

export const MEMO_ENTRIES = 512;
export const MEMO_MAX_PATH = 256;

export function memoRouter<T>(): Router<T> {
  const inner = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  const memo = new Map<string, Result<T>>();
  return {
    name: 'memo',
    add: (method, path, handler) => inner.add(method, path, handler),
    match(method, path) {
      if (path.length > MEMO_MAX_PATH) return inner.match(method, path);
      const key = `${method} ${path}`;
      let result = memo.get(key);
      if (result === undefined) {
        result = inner.match(method, path);
        if (memo.size >= MEMO_ENTRIES) memo.clear();
        memo.set(key, result);
      }
      return result;
    },
  };
}
