/**
 * A credential-stuffing flood, run as its own process so its TLS and HTTP
 * work does not share the measuring test's event loop: `count` requests with
 * random secrets (valid checksum, so each one could reach argon2) for one
 * real key id, `concurrency` at a time, spread over `sources` loopback source
 * addresses (127.0.2.1 …) like a small botnet. Prints one JSON summary line.
 *   node --import tsx test/helpers/flood.ts <port> <keyId> <count> <concurrency> <sources> <ca-file>
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { newSecretToken } from '../../src/auth/tokens.ts';

const [port, keyId, countArg, concurrencyArg, sourcesArg, caFile] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const ca = readFileSync(String(caFile), 'utf8');
const agents = Array.from({ length: Number(sourcesArg) }, (_, i) => new Agent({ connect: { ca }, localAddress: `127.0.2.${i + 1}`, keepAliveTimeout: 10_000 }));
const body = JSON.stringify({ event: 'Flood', userId: 'x' });
const statuses: Record<string, number> = {};
let next = 0;
const started = Date.now();

async function worker(): Promise<void> {
  while (next < count) {
    const i = next++;
    const token = newSecretToken(String(keyId)).token;
    try {
      const res = await request(`https://127.0.0.1:${port}/v1/track`, {
        method: 'POST',
        dispatcher: agents[i % agents.length],
        headers: { authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}`, 'content-type': 'application/json' },
        body,
      });
      await res.body.dump();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    } catch {
      statuses.error = (statuses.error ?? 0) + 1;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
await Promise.all(agents.map((a) => a.close()));
process.stdout.write(JSON.stringify({ sent: count, ms: Date.now() - started, statuses }) + '\n');
