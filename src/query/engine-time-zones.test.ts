/**
 * The committed zone list (ENGINE_TIME_ZONES) is the bundled engine's own:
 * regenerated with scripts/engine-time-zones.mjs whenever chdb changes, which
 * loads every zone on it in the engine first and records the engine version.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { ENGINE_TIME_ZONES, ENGINE_TIME_ZONES_CHECKED_ON } from './engine-time-zones.ts';

const engine = fileEngine('palisade-tz-', { migrate: false });
let wh: ChdbWarehouse;
before(async () => {
  wh = await engine.open();
});

test("the committed time-zone list is the bundled engine's system.time_zones", async () => {
  const rows = await wh.query<{ z: string }>('SELECT time_zone AS z FROM system.time_zones ORDER BY z');
  assert.deepEqual([...ENGINE_TIME_ZONES].sort(), rows.map((r) => r.z).sort(), 'run node scripts/engine-time-zones.mjs after upgrading chdb');
  assert.ok(!ENGINE_TIME_ZONES.has('US/Pacific-New') && !ENGINE_TIME_ZONES.has('SystemV/AST4'));
});

test('the list was checked zone by zone on the installed engine (the generator loads every zone)', async () => {
  // Loading all ~600 zones takes ~8 s of CPU (the engine builds each zone's date table), so the
  // generator does it once per engine version and records the version; a chdb upgrade fails here
  // until the list is regenerated, and so re-checked.
  const [row] = await wh.query<{ v: string }>('SELECT version() AS v');
  assert.equal(row?.v, ENGINE_TIME_ZONES_CHECKED_ON, 'run node scripts/engine-time-zones.mjs after upgrading chdb');
});

test('a sample of every shape on the list loads in the engine', async () => {
  const zones = [...ENGINE_TIME_ZONES].sort();
  const odd = ['Factory', 'Etc/GMT+12', 'Etc/GMT-14', 'America/Argentina/ComodRivadavia', 'America/Indiana/Knox', 'NZ-CHAT', 'Asia/Kolkata', 'UTC', 'Zulu'];
  const sample = [...new Set([...odd, ...zones.filter((_, i) => i % 60 === 0), zones.at(-1) ?? 'UTC'])];
  assert.ok(sample.every((z) => ENGINE_TIME_ZONES.has(z) && /^[A-Za-z0-9_+\-/]+$/.test(z)));
  const [loaded] = await wh.query<Record<string, string>>(`SELECT ${sample.map((z, j) => `toString(toStartOfHour(now(), '${z}')) AS z${j}`).join(', ')}`);
  assert.equal(Object.keys(loaded ?? {}).length, sample.length);
});
