/**
 * The attack half of bench/attack.ts, in its own process so its TLS and JSON
 * work does not share the event loop that times the legitimate client (as
 * test/helpers/flood.ts). Each attack comes from its own loopback addresses,
 * like separate attackers: bad secrets from 127.0.2.1-4, oversize bodies from
 * 127.0.3.1, malformed JSON from 127.0.4.1, the unauthenticated flood from
 * 127.0.5.1. Warms up against a sink of its own (below), prints "started",
 * then one JSON line with what each attack got.
 *   ATTACK_ARGS='{"origin":…,"keyId":…,"token":…,"seconds":…}' node --import tsx bench/attacker.ts
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ATTACK, ATTACK_CHECKS, FLOOD_BODY, GARBAGE_BODY, badSecretToken, oversizeBody } from '../load-tests/scenarios.ts';
import { basic } from '../test/helpers/palisade.ts';
import { generateSelfSigned } from '../src/tls/certificate.ts';
import { arrivals, percentile, pool, type ArrivalRun } from './load.ts';

export interface AttackStream {
  name: keyof typeof ATTACK_CHECKS;
  rate: number;
  sources: number;
  sent: number;
  dropped: number;
  /** Requests that failed the scenario's check (a 5xx, or a refusal of the wrong kind). */
  checkFailures: number;
  fiveXx: number;
  statuses: Record<string, number>;
  /** `error.code` of each refusal. */
  codes: Record<string, number>;
  /** Requests that got no answer, by the client's error code (connect timeouts on an overloaded machine). */
  errors: Record<string, number>;
  p99: number;
}

const args = JSON.parse(process.env.ATTACK_ARGS ?? '{}') as { origin: string; keyId: string; token: string; seconds: number };

async function stream(origin: string, seconds: number, name: AttackStream['name'], rate: number, firstAddress: string, sources: number, path: string, next: () => { body: string; headers: Record<string, string> }): Promise<AttackStream> {
  const prefix = firstAddress.slice(0, firstAddress.lastIndexOf('.') + 1);
  const runs: ArrivalRun[] = await Promise.all(
    Array.from({ length: sources }, async (_, i) => {
      const agent = pool(64, `${prefix}${i + 1}`);
      try {
        return await arrivals({ origin, path, dispatcher: agent, rate: () => rate / sources, seconds, maxInFlight: 200, next });
      } finally {
        await agent.close();
      }
    }),
  );
  const outcomes = runs.flatMap((r) => r.outcomes);
  const statuses: Record<string, number> = {};
  const codes: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const o of outcomes) {
    statuses[String(o.status)] = (statuses[String(o.status)] ?? 0) + 1;
    const into = o.status === 0 ? errors : codes;
    if (o.code) into[o.code] = (into[o.code] ?? 0) + 1;
  }
  return {
    name, rate, sources,
    sent: outcomes.length,
    dropped: runs.reduce((s, r) => s + r.dropped, 0),
    checkFailures: outcomes.filter((o) => !ATTACK_CHECKS[name](o.status)).length,
    fiveXx: outcomes.filter((o) => o.status >= 500).length,
    statuses, codes, errors,
    p99: percentile(outcomes.map((o) => o.ms), 99),
  };
}

const json = { 'content-type': 'application/json' };
const auth = basic(args.token);
const oversize = oversizeBody(ATTACK.oversize.bytes);
const all = (origin: string, seconds: number) =>
  Promise.all([
    stream(origin, seconds, 'badSecret', ATTACK.badSecrets.rate, '127.0.2.1', 4, '/v1/track', () => ({ body: FLOOD_BODY, headers: { ...json, ...basic(badSecretToken(args.keyId)) } })),
    stream(origin, seconds, 'oversize', ATTACK.oversize.rate, '127.0.3.1', 1, '/v1/batch', () => ({ body: oversize, headers: { ...json, ...auth } })),
    stream(origin, seconds, 'garbage', ATTACK.garbage.rate, '127.0.4.1', 1, '/v1/batch', () => ({ body: GARBAGE_BODY, headers: { ...json, ...auth } })),
    stream(origin, seconds, 'flood', ATTACK.flood.rate, '127.0.5.1', 1, '/v1/track', () => ({ body: FLOOD_BODY, headers: json })),
  ]);

// A fresh process spends its first seconds loading, compiling and starting TLS
// clients: ~1.2 cores here, on the cores the server under attack has, which an
// attacker's own machine would not take from it. So the same streams first run
// for WARM_SECONDS against a sink in this process that refuses everything, and
// only then at the server (what the server sees is unchanged).
const WARM_SECONDS = Number(process.env.BENCH_ATTACKER_WARM_SECONDS ?? 2);
if (WARM_SECONDS > 0) {
  const { cert, key } = await generateSelfSigned();
  const sink = https.createServer({ cert, key }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"unauthorized"}}'));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  await all(`https://127.0.0.1:${(sink.address() as AddressInfo).port}`, WARM_SECONDS);
  sink.closeAllConnections();
  await new Promise((resolve) => sink.close(resolve));
}
process.stdout.write('started\n');
const streams = await all(args.origin, args.seconds);
process.stdout.write(`${JSON.stringify(streams)}\n`);
