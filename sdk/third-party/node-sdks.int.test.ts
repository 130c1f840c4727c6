/**
 * Third-party server SDKs, unchanged from npm, against a spawned Palisade
 * over real TLS: Segment's @segment/analytics-node and its legacy
 * analytics-node v6, and RudderStack's @rudderstack/rudder-sdk-node (whose
 * gzip mode labels its JSON application/x-www-form-urlencoded). Each runs in
 * its own child process that trusts Palisade's self-signed certificate
 * through NODE_EXTRA_CA_CERTS, sends one event of every type it has, in each
 * of its modes (one request per event, batched, gzip, and with the server's
 * answer refused or lost once so it retries), and every event is then read
 * back through the query API: each type once, no event twice.
 *
 * The SDKs reach Palisade through a recording proxy (helpers/recording-proxy.ts)
 * that shows what they really sent and injects the 503/429/lost
 * acknowledgement; Palisade itself is the real server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRecordingProxy, type Fault, type RecordingProxy } from '../../test/helpers/recording-proxy.ts';
import { createTenant, removeDir, startPalisade, type Palisade } from '../../test/helpers/palisade.ts';
import { assertExactlyForwarded, landed } from './landed.ts';

const CHILD = fileURLToPath(new URL('./node-sdk-child.mjs', import.meta.url));
const require = createRequire(import.meta.url);
const version = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version;

let p: Palisade;
let proxy: RecordingProxy;

before(async () => {
  p = await startPalisade();
  proxy = await startRecordingProxy({ palisadePort: p.apiPort, tlsDir: path.join(p.dataDir, 'tls') });
});

after(async () => {
  await proxy?.close();
  await p?.kill();
  if (p) await removeDir(p.dataDir);
});

interface Mode {
  name: string;
  batch: boolean;
  gzip?: boolean;
  fault?: Fault;
}

function runChild(sdk: string, runId: string, key: string, mode: Mode): Promise<{ sent: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(p.dataDir, 'tls', 'self-signed.crt') };
    const child = spawn(process.execPath, [CHILD, JSON.stringify({ sdk, host: proxy.url, key, runId, mode })], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`${sdk} child exited ${code}:\n${out}\n${err}`));
      resolve(JSON.parse(line) as { sent: number; errors: string[] });
    });
  });
}

const SDKS: { pkg: string; library: RegExp; modes: Mode[] }[] = [
  {
    pkg: '@segment/analytics-node',
    library: /^@segment\/analytics-node$/,
    modes: [
      { name: 'one request per event', batch: false },
      { name: 'batched', batch: true },
      { name: 'batched, the first answer a 503 (retried)', batch: true, fault: { kind: 'refuse', status: 503 } },
      { name: 'batched, the first answer a 429 with Retry-After (retried after it)', batch: true, fault: { kind: 'refuse', status: 429, retryAfter: 1 } },
      { name: 'batched, the first acknowledgement lost after Palisade stored it (retried, stored once)', batch: true, fault: { kind: 'loseAck' } },
    ],
  },
  {
    pkg: 'analytics-node',
    library: /^analytics-node$/,
    modes: [
      { name: 'one request per event', batch: false },
      { name: 'batched', batch: true },
      { name: 'batched, the first answer a 503 (retried)', batch: true, fault: { kind: 'refuse', status: 503 } },
      { name: 'batched, the first answer a 429 (retried)', batch: true, fault: { kind: 'refuse', status: 429, retryAfter: 1 } },
      { name: 'batched, the first acknowledgement lost after Palisade stored it (retried, stored once)', batch: true, fault: { kind: 'loseAck' } },
    ],
  },
  {
    pkg: '@rudderstack/rudder-sdk-node',
    library: /^analytics-node$/, // rudder-sdk-node still names itself analytics-node in context.library
    modes: [
      { name: 'gzip, one request per event', batch: false, gzip: true },
      { name: 'gzip, batched', batch: true, gzip: true },
      { name: 'plain JSON, batched', batch: true, gzip: false },
      { name: 'gzip, batched, the first answer a 503 (retried)', batch: true, gzip: true, fault: { kind: 'refuse', status: 503 } },
      { name: 'gzip, batched, the first answer a 429 (retried)', batch: true, gzip: true, fault: { kind: 'refuse', status: 429, retryAfter: 1 } },
      { name: 'gzip, batched, the first acknowledgement lost after Palisade stored it (retried, stored once)', batch: true, gzip: true, fault: { kind: 'loseAck' } },
    ],
  },
];

let run = 0;
for (const sdk of SDKS) {
  describe(`${sdk.pkg} ${version(sdk.pkg)}, unchanged`, () => {
    for (const mode of sdk.modes) {
      test(`${mode.name}: every event type lands once`, async () => {
        const runId = `r${++run}`;
        const t = await createTenant(p, `${sdk.pkg}-${runId}`);
        const first = proxy.requests.length;
        if (mode.fault) proxy.fail(mode.fault);
        const result = await runChild(sdk.pkg, runId, t.keys.ingest, mode);
        const mine = proxy.requests.slice(first);
        assert.ok(result.sent >= 5, `sent ${result.sent}`);

        // What went over the wire.
        assert.ok(mine.length > 0);
        for (const r of mine) {
          assert.equal(r.method, 'POST');
          assert.equal(r.path, '/v1/batch');
          assert.match(String(r.headers.authorization), /^Basic /);
          if (mode.gzip) {
            assert.equal(r.headers['content-encoding'], 'gzip');
            // The label Palisade used to refuse with a 415: JSON under a form label.
            assert.match(String(r.headers['content-type']), /application\/x-www-form-urlencoded/);
          }
        }
        // analytics-node v6 and rudder-sdk-node send their very first message on its own, then batch.
        if (mode.batch) assert.ok(mine.some((r) => r.status === 200 && r.messageIds.length >= 4), 'the events went as a batch');
        else assert.equal(mine.filter((r) => r.status === 200).length, result.sent, 'one request per event');
        if (mode.fault) {
          assert.equal(mine[0]?.status, mode.fault.kind === 'refuse' ? mode.fault.status : 503);
          assert.equal(mine[0]?.forwarded, mode.fault.kind === 'loseAck');
          const failed = [...(mine[0]?.messageIds ?? [])].sort().join();
          // The retry may follow another batch sent meanwhile (analytics-node v6 does not wait).
          const retry = mine.slice(1).find((r) => [...r.messageIds].sort().join() === failed);
          assert.ok(failed && retry, 'retried with the same messageIds');
          assert.equal(retry.status, 200);
        }
        assert.deepEqual(result.errors, [], 'the SDK reported no error');

        // What landed: each type once, the retried batch not twice.
        const events = await landed(p, t, result.sent);
        const types = events.map((e) => e.type).sort();
        const expected = ['alias', 'group', 'identify', 'page', 'track', ...(result.sent === 6 ? ['screen'] : [])].sort();
        assert.deepEqual(types, expected);
        assertExactlyForwarded(events, mine);
        const track = events.find((e) => e.type === 'track');
        assert.equal(track?.event, `${runId} Order Completed`);
        assert.equal(track?.userId, `${runId}-user`);
        assert.deepEqual(track?.properties, { revenue: 42.5, currency: 'EUR', items: [{ sku: 'A1' }] });
        assert.equal(events.find((e) => e.type === 'identify')?.traits.email, `${runId}@example.com`);
        assert.equal(events.find((e) => e.type === 'alias')?.userId, `${runId}-new`);
        assert.match(String(track?.context.library?.name), sdk.library);
      });
    }
  });
}
