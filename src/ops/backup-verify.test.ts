/**
 * Verification restores a backup into a scratch database and compares row
 * counts and checksums with the manifest. On a ReplacingMergeTree (events,
 * the control-plane tables) a background merge of the restored parts
 * collapses duplicate keys and changes the count; if the engine's merger
 * gets to the scratch copy before the manifest is read (more likely the
 * busier the machine), a sound backup would verify false and page on-call.
 * Here that merge is forced right after each RESTORE, as the merger would.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { fileEngine } from '../../test/helpers/engine.ts';
import { createLogger } from '../log/index.ts';
import { BACKUP_DISK, type ChdbWarehouse } from '../storage/chdb-warehouse.ts';
import type { CallOptions, Warehouse } from '../storage/warehouse.ts';
import { BackupService } from './backup.ts';

const engine = fileEngine('palisade-backup-verify-', { migrate: false });
let wh: ChdbWarehouse;

before(async () => {
  wh = await engine.open();
});

/** The warehouse, except that every scratch table is merged (OPTIMIZE … FINAL) right after a RESTORE into it. */
function mergingAfterRestore(inner: Warehouse, merges: { done: number; refused: number }): Warehouse {
  const outer = Object.create(inner) as Warehouse;
  outer.command = async (sql: string, options?: CallOptions) => {
    await inner.command(sql, options);
    for (const m of sql.matchAll(/ AS (`palisade_scratch_[0-9a-f]+`\.`[A-Za-z_]+`)/g)) {
      try {
        await inner.command(`OPTIMIZE TABLE ${m[1]} FINAL`);
        merges.done++;
      } catch {
        merges.refused++;
      }
    }
  };
  return outer;
}

test('a merge in the scratch copy does not make a sound backup of a ReplacingMergeTree verify false', async () => {
  await wh.command('CREATE TABLE replaced (k UInt32, v String) ENGINE = ReplacingMergeTree ORDER BY k');
  // Two parts holding the same key: two rows until a merge keeps the last.
  await wh.command("INSERT INTO replaced VALUES (1, 'first')");
  await wh.command("INSERT INTO replaced VALUES (1, 'second')");
  const merges = { done: 0, refused: 0 };
  const backups = new BackupService({ warehouse: mergingAfterRestore(wh, merges), logger: createLogger('silent'), disk: BACKUP_DISK, retentionDays: 7 });
  const made = await backups.create({ kind: 'tables', tables: ['replaced'] }, 'manual', { actor: 'test' });
  assert.deepEqual((await backups.get(made.id)).manifest.replaced?.map((p) => p.rows), [2]);

  const verified = await backups.verify(made.id, { actor: 'test' });
  assert.deepEqual(verified.mismatches, []);
  assert.equal(verified.ok, true);
  assert.equal(verified.partitionsChecked, 1);
  assert.ok(merges.done + merges.refused > 0, 'the scratch copy was offered a merge');
  assert.equal(backups.status().lastVerifyOk, true);
});
