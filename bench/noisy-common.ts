/**
 * What bench/noisy-neighbour.ts and its load process (bench/noisy-load.ts)
 * share: HTTPS calls from one loopback source address, closed loops, and the
 * queries tenant A hammers with.
 */
import { Agent, request } from 'undici';

export const SHOP = 'https://shop.example';

export interface Answer {
  status: number;
  ms: number;
  text: string;
}

export type Call = (method: string, route: string, o?: { body?: unknown; headers?: Record<string, string> }) => Promise<Answer>;

/**
 * HTTPS calls from one loopback source address (the server limits and splits
 * budgets by client address). `countLines`: the answer's text is not kept,
 * only its number of lines, counted chunk by chunk (an export is up to 64 MiB).
 */
export function client(port: number, ca: string, localAddress: string, connections: number, o: { countLines?: boolean } = {}): { call: Call; close: () => Promise<void> } {
  const agent = new Agent({ connections, localAddress, connect: { ca }, keepAliveTimeout: 10_000 });
  const call: Call = async (method, route, c = {}) => {
    const t0 = performance.now();
    try {
      const res = await request(`https://localhost:${port}${route}`, {
        method: method as 'GET',
        dispatcher: agent,
        headers: { ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers },
        body: c.body !== undefined ? JSON.stringify(c.body) : undefined,
      });
      if (o.countLines && res.statusCode === 200) {
        let lines = 0;
        for await (const chunk of res.body as AsyncIterable<Buffer>) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        return { status: res.statusCode, ms: performance.now() - t0, text: String(lines) };
      }
      const text = await res.body.text();
      return { status: res.statusCode, ms: performance.now() - t0, text };
    } catch {
      return { status: 0, ms: performance.now() - t0, text: '' };
    }
  };
  return { call, close: () => agent.close() };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` back to back until `until()`; `parallel` copies. */
export async function loop(parallel: number, until: () => boolean, step: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: parallel }, async (_, i) => {
    while (!until()) await step(i);
  }));
}
