import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalDetails, ChainWalker, entryHash, GENESIS, type AuditRow } from './chain.ts';
import { AuthFailureAggregator, IngestAggregator, MINUTE_MS } from './aggregate.ts';

function chain(n: number, node = 'n1'): AuditRow[] {
  const rows: AuditRow[] = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const base = {
      node_id: node,
      seq,
      at: `2026-01-01 00:00:${String(seq).padStart(2, '0')}.000`,
      actor: 'system',
      tenant_id: seq % 2 ? 'ten_aaaaaaaaaaaa' : '',
      action: `act.${seq}`,
      target: '',
      outcome: 'ok',
      client_ip: '',
      request_id: '',
      details: canonicalDetails({ n: seq }),
    };
    const hash = entryHash(prev, base);
    rows.push({ ...base, prev_hash: prev, hash });
    prev = hash;
  }
  return rows;
}

function walk(rows: AuditRow[], anchor?: { seq: number; hash: string }) {
  const w = new ChainWalker('n1');
  for (const r of [...rows].sort((a, b) => a.seq - b.seq)) w.push(r);
  return w.finish(anchor ? { nodeId: 'n1', ...anchor } : undefined);
}

test('an intact chain verifies, and its head matches the anchor', () => {
  const rows = chain(10);
  const last = rows[9] as AuditRow;
  const r = walk(rows, { seq: 10, hash: last.hash });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.head, { seq: 10, hash: last.hash });
});

test('an altered entry is named', () => {
  const rows = chain(10);
  rows[4] = { ...(rows[4] as AuditRow), outcome: 'denied' };
  const r = walk(rows);
  assert.equal(r.problems[0]?.kind, 'altered');
  assert.equal(r.problems[0]?.seq, 5);
});

test('an altered entry whose hash was recomputed is named by the next link', () => {
  const rows = chain(10);
  const r5 = { ...(rows[4] as AuditRow), actor: 'someone-else' };
  r5.hash = entryHash(r5.prev_hash, r5);
  rows[4] = r5;
  const r = walk(rows);
  assert.equal(r.problems[0]?.kind, 'altered');
  assert.equal(r.problems[0]?.seq, 5);
});

test('a removed entry is named, and a removed tail is caught by the anchor', () => {
  const rows = chain(10);
  const last = rows[9] as AuditRow;
  const gap = walk(rows.filter((x) => x.seq !== 4));
  assert.equal(gap.problems[0]?.kind, 'removed');
  assert.equal(gap.problems[0]?.seq, 4);
  const tail = walk(rows.slice(0, 7), { seq: 10, hash: last.hash });
  assert.equal(tail.problems[0]?.kind, 'truncated');
  assert.equal(tail.problems[0]?.seq, 8);
  assert.match(tail.problems[0]?.message ?? '', /8–10/);
});

test('two entries swapped (their positions exchanged) are reported as reordered', () => {
  const rows = chain(10);
  const a = rows[2] as AuditRow;
  const b = rows[6] as AuditRow;
  rows[2] = { ...b, seq: 3 };
  rows[6] = { ...a, seq: 7 };
  const r = walk(rows);
  assert.equal(r.problems[0]?.kind, 'reordered');
  assert.equal(r.problems[0]?.seq, 3);
  assert.match(r.problems[0]?.message ?? '', /entry 7 moved/);
});

test('a second row claiming an existing position is reported', () => {
  const rows = chain(5);
  const forged = { ...(rows[2] as AuditRow), action: 'forged' };
  forged.hash = entryHash(forged.prev_hash, forged);
  const r = walk([...rows, forged]);
  assert.ok(r.problems.some((p) => p.kind === 'inserted' || p.kind === 'altered'), JSON.stringify(r.problems));
});

test('details keep only small, safe fields, canonically ordered', () => {
  assert.equal(canonicalDetails({ b: 1, a: 'x', secret: 's', apiToken: 't', properties: { p: 1 }, nested: { x: 1 } as unknown as string }), '{"a":"x","b":1}');
  assert.equal(canonicalDetails({ s: 'x'.repeat(1000) }).length < 300, true);
  assert.equal(canonicalDetails({ lone: '\uD800' }), JSON.stringify({ lone: '\uFFFD' }));
});

test('auth failures aggregate per IP, key, reason and minute', () => {
  let now = 10 * MINUTE_MS + 5;
  const agg = new AuthFailureAggregator(() => now);
  for (let i = 0; i < 1000; i++) agg.note({ ip: '198.51.100.7', keyId: 'k1', tenantId: 't1', reason: 'wrong_secret', listener: 'api', requestId: `r${i}` });
  agg.note({ ip: '198.51.100.8', reason: 'malformed', listener: 'api', requestId: 'x' });
  assert.deepEqual(agg.drain(), [], 'the minute is not over yet');
  now += MINUTE_MS;
  const out = agg.drain();
  assert.equal(out.length, 2);
  const k1 = out.find((e) => e.target === 'k1');
  assert.equal(k1?.details?.count, 1000);
  assert.equal(k1?.tenantId, 't1');
  assert.equal(k1?.actor, 'key:k1');
  assert.equal(k1?.clientIp, '198.51.100.7');
});

test('accepted ingestion aggregates per key and minute with distinct IPs', () => {
  const now = 20 * MINUTE_MS;
  const agg = new IngestAggregator(() => now);
  agg.note({ keyId: 'k', tenantId: 't', ip: '1.1.1.1', events: 3 });
  agg.note({ keyId: 'k', tenantId: 't', ip: '1.1.1.2', events: 2 });
  agg.note({ keyId: 'k', tenantId: 't', ip: '1.1.1.1', events: 1 });
  const [e] = agg.drain(true);
  assert.deepEqual(e?.details, { minute: new Date(now).toISOString(), requests: 3, events: 6, distinctIps: 2, distinctIpsCapped: false });
});
