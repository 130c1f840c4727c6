/**
 * A small, hand-countable data set for the query API: two tenants, a page →
 * sign-up → purchase funnel, UTM tags and referrers in both places Segment
 * puts them, a retried event written twice (so counts must dedupe), and
 * tenant B's rows marked with a canary that must never reach tenant A.
 */
import { toClickHouseTime, type EventRow, type JsonObject } from '../../schemas/event-row.ts';
import type { Warehouse } from '../../src/storage/warehouse.ts';

export const TENANT_A = 'ten_AAAAAAAAAAAA';
export const TENANT_B = 'ten_BBBBBBBBBBBB';
export const CANARY = 'CANARY_B_7f3a9c';
/** The clock the expectations are written against. */
export const NOW = new Date('2026-11-24T12:00:00.000Z');

function row(tenant: string, id: string, type: EventRow['type'], event: string, user: string, at: string, properties: JsonObject = {}, context: JsonObject = {}): EventRow {
  const anon = user.startsWith('a') ? user : '';
  return {
    tenant_id: tenant,
    message_id: id,
    type,
    event,
    user_id: anon ? '' : user,
    anonymous_id: anon,
    group_id: '',
    previous_id: '',
    timestamp: toClickHouseTime(new Date(at)),
    original_timestamp: null,
    sent_at: null,
    received_at: toClickHouseTime(new Date(at)),
    properties,
    traits: type === 'identify' ? { email: `${user}@example.com` } : {},
    context,
    ip: '',
    user_agent: '',
    key_id: 'fixture',
  };
}

export const ROWS_A: EventRow[] = [
  row(TENANT_A, 'm1', 'page', 'Home', 'u1', '2026-11-22T10:00:00Z', { path: '/', referrer: 'https://www.google.com/' }, { page: { path: '/', url: 'https://shop.example/?utm_source=google&x=1', referrer: 'https://www.google.com/' } }),
  row(TENANT_A, 'm2', 'track', 'Signed Up', 'u1', '2026-11-22T10:05:00Z', { plan: 'pro' }),
  row(TENANT_A, 'm3', 'track', 'Purchased', 'u1', '2026-11-22T11:00:00Z', { plan: 'pro', price: 49 }),
  row(TENANT_A, 'm4', 'page', 'Home', 'u2', '2026-11-23T09:00:00Z', { path: '/', referrer: 'https://news.ycombinator.com/item?id=1' }, { campaign: { source: 'hn', medium: 'social' } }),
  row(TENANT_A, 'm5', 'track', 'Signed Up', 'u2', '2026-11-23T09:10:00Z', { plan: 'free' }),
  row(TENANT_A, 'm6', 'page', 'Docs', 'a3', '2026-11-24T08:00:00Z', { path: '/docs' }),
  // 24 h 30 min after u2's first step: outside a one-day funnel window.
  row(TENANT_A, 'm7', 'track', 'Purchased', 'u2', '2026-11-24T09:30:00Z', { plan: 'free', price: 0 }),
  row(TENANT_A, 'm8', 'identify', '', 'u3', '2026-11-24T10:00:00Z'),
];

export const ROWS_B: EventRow[] = [
  row(TENANT_B, `b1_${CANARY}`, 'track', `Signed Up ${CANARY}`, `u_${CANARY}`, '2026-11-23T10:00:00Z', { marker: CANARY, plan: CANARY, [`k_${CANARY}`]: 1, tenant_id: CANARY }),
  row(TENANT_B, `b2_${CANARY}`, 'page', 'Home', 'u1', '2026-11-23T10:00:00Z', { path: `/${CANARY}`, referrer: `https://${CANARY}.example/` }, { campaign: { source: CANARY } }),
  row(TENANT_B, `b3_${CANARY}`, 'track', 'Purchased', 'u1', '2026-11-23T10:30:00Z', { plan: 'pro', price: 1000, note: CANARY }),
];

function jsonl(rows: object[]): Buffer {
  return Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));
}

export async function loadFixtures(wh: Warehouse): Promise<void> {
  await wh.insertJson('events', jsonl(ROWS_A));
  // The retried copy of m2 goes in a second INSERT, so it sits in another part, unmerged.
  await wh.insertJson('events', jsonl([ROWS_A[1] as EventRow]));
  await wh.insertJson('events', jsonl(ROWS_B));
  const at = (s: string) => toClickHouseTime(new Date(s));
  await wh.insertJson(
    'ingestion_warnings',
    jsonl([
      { tenant_id: TENANT_A, at: at('2026-11-23T12:00:00Z'), request_id: 'r1', key_id: 'k1', message_id: 'w1', batch_index: 2, code: 'too_deep', message: 'properties: nested deeper than 8 levels' },
      { tenant_id: TENANT_B, at: at('2026-11-23T12:00:00Z'), request_id: 'r2', key_id: 'k2', message_id: `w_${CANARY}`, batch_index: 0, code: 'invalid_event', message: CANARY },
    ]),
  );
  await wh.insertJson(
    'dead_letters',
    jsonl([
      { tenant_id: TENANT_A, at: at('2026-11-24T11:00:00Z'), message_id: 'd1', reason: 'guard_violation', row: '{"event":"x"}' },
      { tenant_id: TENANT_B, at: at('2026-11-24T11:00:00Z'), message_id: `d_${CANARY}`, reason: CANARY, row: `{"event":"${CANARY}"}` },
    ]),
  );
}
