/**
 * The edge's key table under refreshes that overlap: the timer's refresh and
 * the one after an admin change run side by side, and their snapshots come
 * back in any order on a busy engine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inProcessNode } from '../../test/helpers/in-process.ts';

const opened = inProcessNode();

test('a refresh that started before a key was made, and finished after, does not take the key away', async () => {
  const node = await opened.open();
  const t = await node.createTenant('refresh-order');
  const real = node.control.snapshot.bind(node.control);
  let release: (() => void) | undefined;
  // The next snapshot is read now (before the key exists) and handed back only when released.
  node.control.snapshot = async () => {
    const snap = await real();
    node.control.snapshot = real;
    await new Promise<void>((r) => (release = r));
    return snap;
  };
  const stale = node.refreshKeys();
  await new Promise((r) => setTimeout(r, 50)); // the stale snapshot has been read
  const created = await node.adminCall<{ key: { id: string }; token: string }>('POST', `/admin/tenants/${t.tenant.id}/keys`, { scope: 'ingest' });
  assert.equal(created.status, 201);
  assert.ok(node.keys.key(created.body.key.id), 'the admin change refreshed the table');
  release?.();
  await stale;
  assert.ok(node.keys.key(created.body.key.id), 'the older snapshot, applied last, must not undo the newer one');
});
