// Runs one third-party server SDK, unchanged, in its own process (so only this
// process trusts Palisade's self-signed certificate, through
// NODE_EXTRA_CA_CERTS; the test process keeps strict TLS). Sends one event of
// every type the SDK has, flushes, and prints one JSON line:
// { "sent": n, "errors": [...] }.
//   node node-sdk-child.mjs '{"sdk":"…","host":"https://localhost:PORT","key":"pal_sk_…","runId":"…","mode":{…}}'
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { sdk, host, key, runId, mode } = JSON.parse(process.argv[2] ?? '{}');
const errors = [];
const onError = (err) => errors.push(String(err?.message ?? err));

/**
 * The same calls for every SDK (`screen` left out by one that has none), each
 * with the SDK's per-message callback; resolves when every callback has run,
 * which is when the SDK has given up retrying or been acknowledged.
 */
function calls(client) {
  const userId = `${runId}-user`;
  const messages = [
    ['identify', { userId, traits: { email: `${runId}@example.com`, plan: 'pro' } }],
    ['track', { userId, event: `${runId} Order Completed`, properties: { revenue: 42.5, currency: 'EUR', items: [{ sku: 'A1' }] } }],
    ['page', { userId, name: 'Pricing', properties: { path: '/pricing', url: 'https://shop.example/pricing' } }],
    ['screen', { userId, name: 'Home Screen', properties: { tab: 'feed' } }],
    ['group', { userId, groupId: `${runId}-org`, traits: { name: 'Acme' } }],
    ['alias', { userId: `${runId}-new`, previousId: userId }],
  ].filter(([type]) => typeof client[type] === 'function');
  const done = messages.map(
    ([type, message]) =>
      new Promise((resolve) =>
        client[type](message, (err) => {
          if (err) onError(err);
          resolve();
        }),
      ),
  );
  return { sent: messages.length, done: Promise.all(done) };
}

async function segmentNode() {
  const { Analytics } = require('@segment/analytics-node');
  const client = new Analytics({
    writeKey: key,
    host,
    path: '/v1/batch',
    // batch: all six in one request; single: one request per event.
    maxEventsInBatch: mode.batch ? 20 : 1,
    flushInterval: 200,
    maxRetries: 3,
  });
  const { sent, done } = calls(client);
  await done;
  await client.closeAndFlush({ timeout: 30_000 });
  return sent;
}

async function legacyAnalyticsNode() {
  const Analytics = require('analytics-node');
  const client = new Analytics(key, {
    host,
    flushAt: mode.batch ? 20 : 1,
    flushInterval: 200,
    retryCount: 3,
  });
  const { sent, done } = calls(client);
  await done;
  return sent;
}

async function rudderNode() {
  const Analytics = require('@rudderstack/rudder-sdk-node');
  const client = new Analytics(key, {
    dataPlaneUrl: host,
    flushAt: mode.batch ? 20 : 1,
    flushInterval: 200,
    retryCount: 3,
    gzip: mode.gzip === true,
    logLevel: 'error',
  });
  const { sent, done } = calls(client);
  await done;
  return sent;
}

const run = { '@segment/analytics-node': segmentNode, 'analytics-node': legacyAnalyticsNode, '@rudderstack/rudder-sdk-node': rudderNode }[sdk];
if (!run) throw new Error(`unknown sdk ${sdk}`);
const sent = await run();
process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
process.exit(0);
