/**
 * What a third-party SDK's events became in Palisade, read back through the
 * query API (a query key) and the admin stats: the tests assert each type
 * landed once and the messageIds are exactly those that reached Palisade.
 */
import assert from 'node:assert/strict';
import { basic, stats, waitFor, type CreatedTenant, type Palisade } from '../../test/helpers/palisade.ts';
import type { Recorded } from '../../test/helpers/recording-proxy.ts';

export interface ListedEvent {
  messageId: string;
  type: string;
  event: string;
  userId: string;
  anonymousId: string;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: { library?: { name?: string; version?: string }; page?: { url?: string } };
}

export async function listEvents(p: Palisade, t: CreatedTenant): Promise<ListedEvent[]> {
  const r = await p.api<{ events: ListedEvent[] }>('POST', '/v1/query', { body: { kind: 'events', from: '-1d', limit: 200 }, headers: basic(t.keys.query) });
  assert.equal(r.status, 200, r.text);
  return r.body.events;
}

/** Exactly n events, given time to arrive, and none more after a pause. */
export async function landed(p: Palisade, t: CreatedTenant, n: number): Promise<ListedEvent[]> {
  await waitFor(async () => (await stats(p, t.tenant.id)).events >= n, 20_000, `${n} events for ${t.tenant.name} (have ${(await stats(p, t.tenant.id)).events})`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await stats(p, t.tenant.id)).events, n, 'no event stored twice');
  const events = await listEvents(p, t);
  assert.equal(events.length, n);
  return events;
}

/** Every messageId that reached Palisade (forwarded by the proxy), each once, and nothing else, is what was stored. */
export function assertExactlyForwarded(events: ListedEvent[], requests: Recorded[]): void {
  const forwarded = new Set(requests.filter((r) => r.forwarded && r.method === 'POST').flatMap((r) => r.messageIds));
  assert.deepEqual(events.map((e) => e.messageId).sort(), [...forwarded].sort(), 'exactly the messageIds sent, each once');
}
