/**
 * A start-up that fails after the spool is open and the key table is loaded
 * (here: the admin port is taken, so the last module cannot listen) closes
 * what it opened, in reverse: the spool's file and the engine's sessions.
 * In-process, so the real Spool and ChdbWarehouse can be watched closing.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mock, test } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { ControlPlane } from '../src/control/control-plane.ts';
import { createLogger } from '../src/log/index.ts';
import { startPalisade } from '../src/server.ts';
import { Spool } from '../src/spool/spool.ts';
import { ChdbWarehouse } from '../src/storage/chdb-warehouse.ts';
import { removeDir } from './helpers/palisade.ts';

function occupy(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

test('a failure after the spool opened closes the spool and the warehouse; the data directory opens again', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'palisade-unwind-'));
  const taken = await occupy();
  t.after(async () => {
    taken.server.close();
    await removeDir(dataDir);
  });
  const spoolOpen = mock.method(Spool, 'open');
  const spoolClose = mock.method(Spool.prototype, 'close');
  const warehouseClose = mock.method(ChdbWarehouse.prototype, 'close');
  t.after(() => mock.restoreAll());
  const env = { PALISADE_DATA_DIR: dataDir, PALISADE_PORT: '0', PALISADE_ADMIN_PORT: String(taken.port), PALISADE_LOG_LEVEL: 'silent' };
  const logger = createLogger('silent');

  await assert.rejects(startPalisade(loadConfig(env), logger), /EADDRINUSE/);
  assert.equal(spoolOpen.mock.callCount(), 1, 'the spool was opened before the failure');
  assert.equal(spoolClose.mock.callCount(), 1, 'and closed by the unwinding');
  assert.equal(warehouseClose.mock.callCount(), 1, 'the engine sessions were closed too');

  // Nothing of the failed start is left holding the directory: a normal start on it works and stops cleanly.
  const running = await startPalisade(loadConfig({ ...env, PALISADE_ADMIN_PORT: '0' }), logger);
  assert.ok(running.apiPort > 0 && running.adminPort > 0);
  await running.close();
  assert.equal(spoolClose.mock.callCount(), 2);
  assert.equal(warehouseClose.mock.callCount(), 2);
});

test('a failure to load the key table (ClickHouse failing that one read) closes the warehouse it had opened', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'palisade-unwind-'));
  t.after(() => removeDir(dataDir));
  // The one injected failure: the control plane's first read, as a ClickHouse outage at that moment would fail it.
  const snapshot = mock.method(ControlPlane.prototype, 'snapshot', async () => {
    throw new Error('ClickHouse went away');
  });
  const warehouseClose = mock.method(ChdbWarehouse.prototype, 'close');
  t.after(() => mock.restoreAll());
  const env = { PALISADE_DATA_DIR: dataDir, PALISADE_PORT: '0', PALISADE_ADMIN_PORT: '0', PALISADE_LOG_LEVEL: 'silent' };
  await assert.rejects(startPalisade(loadConfig(env), createLogger('silent')), /ClickHouse went away/);
  assert.equal(snapshot.mock.callCount(), 1);
  assert.equal(warehouseClose.mock.callCount(), 1);
});
