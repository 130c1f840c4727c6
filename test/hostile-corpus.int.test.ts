/**
 * Replays the nasty-payload corpus (test/corpus) against a running server over
 * real HTTPS: deep nesting, huge numbers, lone surrogates, 10 MB strings, gzip
 * bombs, duplicate keys, prototype pollution, injection strings in every
 * field of every route (ingest, query, admin). Reports how many inputs were
 * sent and how many got a 5xx, which must be none, and the server must
 * still answer afterwards. Per-IP limits are off here so every input reaches
 * the code it aims at.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { corpus, type Payload } from './corpus/generate.ts';
import { caOf } from './helpers/edge-clients.ts';
import { basic, createTenant, removeDir, startPalisade, type CreatedTenant, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let t: CreatedTenant;

before(async () => {
  p = await startPalisade({ env: { PALISADE_IP_RATE_LIMIT: '0', PALISADE_AUTH_FAIL_IP_MAX: '0', PALISADE_AUTH_FAIL_KEY_MAX: '0', PALISADE_TRUSTED_PROXIES: '127.0.0.1' } });
  t = await createTenant(p, 'corpus', ['https://corpus.example']);
});

after(async () => {
  await p?.kill();
  if (p) await removeDir(p.dataDir);
});

function headersFor(x: Payload): Record<string, string> {
  const auth =
    x.auth === 'ingest' ? basic(t.keys.ingest) : x.auth === 'browser' ? basic(t.keys.browser) : x.auth === 'query' ? basic(t.keys.query) : x.auth === 'admin' ? { authorization: `Bearer ${p.adminToken}` } : {};
  return { ...(x.body !== undefined ? { 'content-type': 'application/json' } : {}), ...auth, ...x.headers };
}

test('every corpus input gets an answer below 500, and the server stays up', { timeout: 170_000 }, async () => {
  const dispatcher = new Agent({ connect: { ca: await caOf(p) }, keepAliveTimeout: 5_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const inputs = corpus();
  const byStatus: Record<string, number> = {};
  const fivexx: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const x = inputs[next++] as Payload;
      const port = x.auth === 'admin' ? p.adminPort : p.apiPort;
      const route = x.route.replace('{tenant}', t.tenant.id);
      let status: string;
      try {
        const res = await request(`https://127.0.0.1:${port}${route}`, { method: x.method as 'POST', headers: headersFor(x), body: x.body, dispatcher });
        await res.body.dump();
        status = String(res.statusCode);
      } catch (err) {
        // The server answered 413 and stopped reading a 10 MB body: the client sees its upload cut.
        status = `client:${(err as NodeJS.ErrnoException).code ?? (err as Error).name}`;
      }
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (status.startsWith('5')) fivexx.push(`${status} ${x.category}: ${x.method} ${route.slice(0, 80)}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  await dispatcher.close();
  process.stdout.write(`\n  corpus: ${inputs.length} inputs sent, ${fivexx.length} answered 5xx; by status ${JSON.stringify(byStatus)}\n`);
  assert.deepEqual(fivexx, []);
  assert.equal((await p.api('GET', '/healthz')).status, 200);
  assert.equal((await p.api('POST', '/v1/track', { body: { event: 'After', userId: 'u' }, headers: basic(t.keys.ingest) })).status, 200);
  assert.ok(!p.output.some((l) => l.includes('"unhandled error"')), 'no unhandled error in the log');
});
