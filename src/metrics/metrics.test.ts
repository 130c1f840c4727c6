import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { FlusherStatus } from '../spool/flusher.ts';
import type { RecoveryReport, SpoolStats } from '../spool/spool.ts';
import { registerMetrics } from './metrics.ts';

function sources() {
  const spool: SpoolStats = { bytes: 2048, records: 3, oldestAppendedAt: Date.now() - 42_000, segments: 2, fsyncs: 10, quarantined: 1 };
  const flusher: FlusherStatus = {
    healthy: false, consecutiveFailures: 7, lastSuccessAt: null, rowsFlushed: 100, rowsInserted: 90, duplicatesSkipped: 5,
    deadLettered: 5, deadLetteredByReason: { clickhouse_rejected: 3, guard_violation: 2, undecodable: 0 }, guardViolations: 2,
  };
  const ingest = { accepted: 500, rejectedByCode: { invalid_event: 4 } as Record<string, number> };
  const recovery: RecoveryReport = {
    checkpoint: { seq: 1, offset: 0 }, segments: 1, records: 3, quarantined: 2, quarantineFiles: [],
    tornTail: { segment: 'seg-0000000000000001.log', bytesDropped: 17 },
  };
  return { spool, flusher, ingest, recovery };
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exported`);
  return Number(line.slice(series.length + 1));
}

test('the alerting metrics read their sources at scrape time', async () => {
  const s = sources();
  const registry = new Registry();
  const m = registerMetrics(registry, {
    spool: () => s.spool, spoolMaxBytes: 1 << 20, flusher: () => s.flusher, ingest: () => s.ingest, recovery: s.recovery, warningsDropped: () => 0,
  });
  m.refused('spool_full');
  const text = await registry.metrics();
  assert.equal(value(text, 'palisade_spool_bytes'), 2048);
  assert.equal(value(text, 'palisade_spool_records'), 3);
  assert.ok(Math.abs(value(text, 'palisade_spool_oldest_unflushed_age_seconds') - 42) < 2);
  assert.equal(value(text, 'palisade_spool_quarantined_records_total'), 3, 'found at start-up plus found while reading');
  assert.equal(value(text, 'palisade_spool_torn_tails_total'), 1);
  assert.equal(value(text, 'palisade_spool_torn_tail_bytes_total'), 17);
  assert.equal(value(text, 'palisade_flusher_healthy'), 0);
  assert.equal(value(text, 'palisade_flusher_consecutive_failures'), 7);
  assert.equal(value(text, 'palisade_flusher_rows_total'), 100);
  assert.equal(value(text, 'palisade_flusher_dead_lettered_rows_total{reason="clickhouse_rejected"}'), 3);
  assert.equal(value(text, 'palisade_storage_guard_violations_total'), 2);
  assert.equal(value(text, 'palisade_events_accepted_total'), 500);
  assert.equal(value(text, 'palisade_events_rejected_total{code="invalid_event"}'), 4);
  assert.equal(value(text, 'palisade_requests_refused_total{reason="spool_full"}'), 1);
  assert.match(registry.contentType, /^text\/plain; version=0\.0\.4/);
});

test('mirrored counters only go up, by what their source gained', async () => {
  const s = sources();
  const registry = new Registry();
  registerMetrics(registry, {
    spool: () => s.spool, spoolMaxBytes: 1 << 20, flusher: () => s.flusher, ingest: () => s.ingest, recovery: s.recovery, warningsDropped: () => 0,
  });
  await registry.metrics();
  s.ingest.accepted = 650;
  s.flusher = { ...s.flusher, guardViolations: 3 };
  const text = await registry.metrics();
  assert.equal(value(text, 'palisade_events_accepted_total'), 650);
  assert.equal(value(text, 'palisade_storage_guard_violations_total'), 3);
  // No label ever carries a tenant or key id.
  assert.ok(!/tenant|key_id/.test(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')));
});
