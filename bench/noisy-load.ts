/**
 * The noise of bench/noisy-neighbour.ts, in a process of its own: tenant A's
 * 8 heavy queries and 4 exports in closed loops (a refusal retried after
 * `retryMs`), and a stranger flooding tenant B's browser key from one /24
 * (8 connections from 127.0.2.10–17). Its own process, as the attacker is on
 * its own machine: in the measuring process, A's 64 MiB exports and the
 * flood's event loop sat between tenant B's answers and B's clock.
 *   node --import tsx bench/noisy-load.ts '<json: NoiseConfig>'
 * Prints READY once its clients exist, starts on a line on stdin, runs for
 * `seconds`, then prints one `NOISE {…}` line (Noise) and exits.
 */
import { createInterface } from 'node:readline';
import { basic } from '../test/helpers/palisade.ts';
import { client, loop, SHOP, sleep, type Call } from './noisy-common.ts';

export interface NoiseConfig {
  port: number;
  ca: string;
  aQueryKey: string;
  bBrowserKey: string;
  seconds: number;
  retryMs: number;
  /** Which of the three run (all by default): to see which one slows B. */
  parts: ('queries' | 'exports' | 'flood')[];
}

export interface Noise {
  queries: Record<string, number>;
  exports: Record<string, number>;
  exportedLines: number;
  flood: { accepted: number; refused: number };
}

const HEAVY = [
  { kind: 'schema', from: '-30d' },
  { kind: 'top', from: '-30d', by: { property: 'path' }, limit: 100 },
  { kind: 'trend', from: '-30d', interval: 'hour', breakdown: { property: 'plan' } },
];

async function noise(o: NoiseConfig, callA: Call, flood: Call[]): Promise<Noise> {
  const end = performance.now() + o.seconds * 1000;
  const until = () => performance.now() >= end;
  const n: Noise = { queries: {}, exports: {}, exportedLines: 0, flood: { accepted: 0, refused: 0 } };
  const count = (m: Record<string, number>, s: number) => (m[String(s)] = (m[String(s)] ?? 0) + 1);
  const on = (part: NoiseConfig['parts'][number]) => (o.parts.includes(part) ? until : () => true);
  const heavy = loop(8, on('queries'), async (i) => {
    const r = await callA('POST', '/v1/query', { body: HEAVY[i % HEAVY.length], headers: basic(o.aQueryKey) });
    count(n.queries, r.status);
    if (r.status !== 200) await sleep(o.retryMs);
  });
  const exports = loop(4, on('exports'), async () => {
    const r = await callA('GET', '/v1/export', { headers: { authorization: `Bearer ${o.aQueryKey}` } });
    count(n.exports, r.status);
    if (r.status === 200) n.exportedLines += Number(r.text);
    else await sleep(o.retryMs);
  });
  const floodBatch = { writeKey: o.bBrowserKey, batch: Array.from({ length: 100 }, (_, i) => ({ type: 'track', event: 'Flood', anonymousId: `s${i}` })) };
  const flooding = loop(8, on('flood'), async (i) => {
    const r = await (flood[i % flood.length] as Call)('POST', '/v1/batch', { body: floodBatch, headers: { origin: SHOP } });
    if (r.status === 200) n.flood.accepted++;
    else n.flood.refused++;
  });
  await Promise.all([heavy, exports, flooding]);
  return n;
}

const config = JSON.parse(process.argv[2] ?? '{}') as NoiseConfig;
// A from 127.0.1.1 (queries and exports share its 16 connections), the stranger from one /24.
const a = client(config.port, config.ca, '127.0.1.1', 16, { countLines: true });
const strangers = Array.from({ length: 8 }, (_, i) => client(config.port, config.ca, `127.0.2.${10 + i}`, 1));
try {
  process.stdout.write('READY\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  const n = await noise(config, a.call, strangers.map((s) => s.call));
  process.stdout.write(`NOISE ${JSON.stringify(n)}\n`);
} finally {
  await Promise.all([a, ...strangers].map((c) => c.close()));
}
