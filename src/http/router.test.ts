import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Router } from 'hono/router';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';
import { MEMO_ENTRIES, MEMO_MAX_PATH, memoRouter } from './router.ts';

/** The API's shape: middleware on every path, a param route beside static siblings (TrieRouter territory), a wildcard fallback. */
function withRoutes(r: Router<string>): Router<string> {
  r.add('ALL', '*', 'metrics');
  r.add('ALL', '/v1/*', 'limits');
  r.add('POST', '/v1/query', 'query');
  r.add('GET', '/v1/support-grants/:id', 'grant');
  r.add('POST', '/v1/:path', 'ingest');
  r.add('OPTIONS', '/v1/:path', 'preflight');
  r.add('ALL', '/v1/*', 'fallback');
  return r;
}

const REQUESTS: [string, string][] = [
  ['POST', '/v1/track'],
  ['POST', '/v1/batch'],
  ['POST', '/v1/query'],
  ['OPTIONS', '/v1/track'],
  ['GET', '/v1/support-grants/sg_123'],
  ['PUT', '/v1/track'],
  ['GET', '/nowhere'],
  ['POST', `/v1/${'x'.repeat(MEMO_MAX_PATH)}`],
];

test("answers exactly what Hono's default router answers, for params, statics, wildcards and misses", () => {
  const memo = withRoutes(memoRouter());
  const plain = withRoutes(new SmartRouter({ routers: [new RegExpRouter(), new TrieRouter()] }));
  for (const [method, path] of [...REQUESTS, ...REQUESTS]) assert.deepEqual(memo.match(method, path), plain.match(method, path), `${method} ${path}`);
});

test('a repeated path is answered from the memo; a path over the length cap never is', () => {
  const memo = withRoutes(memoRouter());
  assert.equal(memo.match('POST', '/v1/track'), memo.match('POST', '/v1/track'));
  assert.notEqual(memo.match('POST', '/v1/track'), memo.match('POST', '/v1/batch'));
  const long = `/v1/${'x'.repeat(MEMO_MAX_PATH)}`;
  assert.notEqual(memo.match('POST', long), memo.match('POST', long));
});

test(`the memo holds at most ${MEMO_ENTRIES} paths: a scanner's random paths push the first one out`, () => {
  const memo = withRoutes(memoRouter());
  const first = memo.match('POST', '/v1/track');
  for (let i = 0; i < MEMO_ENTRIES; i++) memo.match('POST', `/v1/random-${i}`);
  const again = memo.match('POST', '/v1/track');
  assert.notEqual(again, first, 'recomputed: the memo started again');
  assert.deepEqual(again, first);
});
