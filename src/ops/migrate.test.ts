import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupIntent, statementTouches } from './migrate.ts';
import { monthEnd } from './retention.ts';
import { compareManifest, mergeManifests } from './backup-plan.ts';

test('which tables a migration statement touches', () => {
  assert.deepEqual(statementTouches('CREATE TABLE IF NOT EXISTS audit_log (a UInt8) ENGINE = MergeTree ORDER BY a'), ['audit_log']);
  assert.deepEqual(statementTouches('ALTER TABLE events ADD COLUMN x UInt8'), ['events']);
  assert.deepEqual(statementTouches('ALTER TABLE `palisade`.`events` DROP COLUMN x'), ['events']);
  assert.deepEqual(statementTouches('INSERT INTO tenants SELECT * FROM old'), ['tenants']);
  assert.deepEqual(statementTouches('CREATE VIEW v AS SELECT 1'), []);
  assert.equal(statementTouches('SYSTEM RELOAD DICTIONARIES'), undefined);
});

test('a backup covers existing tables touched; an unreadable statement means everything', () => {
  const existing = new Set(['events', 'tenants']);
  assert.deepEqual(backupIntent([{ statements: ['CREATE TABLE IF NOT EXISTS audit_log (a UInt8) ENGINE = MergeTree ORDER BY a'] }], existing), {
    tables: [],
    full: false,
    nothingToBackUp: true,
  });
  assert.deepEqual(backupIntent([{ statements: ['ALTER TABLE events ADD COLUMN x UInt8'] }], existing).tables, ['events']);
  assert.deepEqual(backupIntent([{ statements: ['SYSTEM STOP MERGES'] }], existing), { tables: ['events', 'tenants'], full: true, nothingToBackUp: false });
});

test('a partition month ends at the first instant of the next month', () => {
  assert.equal(monthEnd("('ten_abc',202601)"), Date.UTC(2026, 1, 1));
  assert.equal(monthEnd("('ten_abc',202612)"), Date.UTC(2027, 0, 1));
  assert.equal(monthEnd('tuple()'), undefined);
});

test('partitions that changed during a backup are checked for presence only', () => {
  const before = { events: [{ partition: 'a', rows: 2, checksum: '1' }, { partition: 'b', rows: 5, checksum: '2' }] };
  const after = { events: [{ partition: 'a', rows: 2, checksum: '1' }, { partition: 'b', rows: 7, checksum: '3' }] };
  const m = mergeManifests(before, after);
  assert.equal(m.events?.[1]?.changed?.rowsBefore, 5);
  const ok = compareManifest(m, { events: [{ partition: 'a', rows: 2, checksum: '1' }, { partition: 'b', rows: 6, checksum: '9' }] });
  assert.deepEqual(ok, { checked: 1, changedDuringBackup: 1, mismatches: [] });
  const bad = compareManifest(m, { events: [{ partition: 'a', rows: 2, checksum: 'x' }, { partition: 'b', rows: 6, checksum: '9' }] });
  assert.equal(bad.mismatches[0]?.partition, 'a');
});
