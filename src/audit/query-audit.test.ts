import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../log/index.ts';
import type { AuditInput } from './audit-log.ts';
import { QueryAuditTrail, type QueryCall } from './query-audit.ts';

function trail() {
  const entries: AuditInput[] = [];
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const t = new QueryAuditTrail({ record: (e) => void entries.push(e) }, createLogger('info', sink));
  return { t, entries, lines };
}

const call: QueryCall = { requestId: 'req_1', ip: '203.0.113.9', tenantId: 'ten_AAAAAAAAAAAA', keyId: 'k1', kind: 'trend', rows: 12, durationMs: 40, outcome: 'ok' };

test('an ok query: one audit entry with its IP and request id, one log line of metadata', async () => {
  const { t, entries, lines } = trail();
  t.record(call);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(entries, [
    {
      actor: 'key:k1',
      tenantId: 'ten_AAAAAAAAAAAA',
      action: 'query',
      target: 'trend',
      outcome: 'ok',
      clientIp: '203.0.113.9',
      requestId: 'req_1',
      details: { kind: 'trend', rows: 12, durationMs: 40 },
    },
  ]);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.msg, 'query');
  assert.equal(lines[0]?.kind, 'trend');
});

test('a refused call without a key: anonymous, failed, with the error code', () => {
  const { t, entries } = trail();
  t.record({ ...call, keyId: undefined, tenantId: undefined, kind: undefined, rows: 0, outcome: 'unauthorized' });
  assert.deepEqual(entries[0], {
    actor: 'anonymous',
    tenantId: undefined,
    action: 'query',
    target: '',
    outcome: 'failed',
    clientIp: '203.0.113.9',
    requestId: 'req_1',
    details: { kind: null, rows: 0, durationMs: 40, error: 'unauthorized' },
  });
});
