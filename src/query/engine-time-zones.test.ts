/**
 * The committed zone list (ENGINE_TIME_ZONES) is the bundled engine's own:
 * regenerated with scripts/engine-time-zones.mjs whenever chdb changes, and
 * every zone on it loads in the engine.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { ENGINE_TIME_ZONES } from './engine-time-zones.ts';

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

test('every zone on the list loads in the engine', async () => {
  // A zone argument must be a constant, so 100 zones per statement as literals (the names are ours, checked first).
  const zones = [...ENGINE_TIME_ZONES];
  assert.ok(zones.every((z) => /^[A-Za-z0-9_+\-/]+$/.test(z)));
  for (let i = 0; i < zones.length; i += 100) {
    const chunk = zones.slice(i, i + 100);
    await wh.query(`SELECT ${chunk.map((z, j) => `toString(toStartOfHour(now(), '${z}')) AS z${j}`).join(', ')}`);
  }
});
