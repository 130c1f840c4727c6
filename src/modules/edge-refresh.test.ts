/**
 * The edge's key-table timer against the real engine: it reloads tenants,
 * keys and settings only when the control plane changed (one stamp query
 * otherwise), and a change made elsewhere (another node, the CLI's admin
 * calls on another edge) still reaches it within a refresh or two.
 */
import assert from 'node:assert/strict';
import { before, after, test } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { ControlPlane } from '../control/control-plane.ts';
import { createLogger } from '../log/index.ts';
import type { SecretsProvider } from '../secrets/provider.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { fileEngine } from '../../test/helpers/engine.ts';
import { EdgeModule } from './edge.ts';

const engine = fileEngine('palisade-edge-');
let wh: Warehouse;
let edge: EdgeModule;
/** The SQL the edge sent, in order. */
const sent: string[] = [];

before(async () => {
  wh = await engine.open();
  const watched: Warehouse = { ...wh, query: (sql, o) => (sent.push(sql), wh.query(sql, o)), insertJson: (t, p, o) => wh.insertJson(t, p, o), command: (sql, o) => wh.command(sql, o), ping: () => wh.ping(), close: async () => undefined };
  edge = await EdgeModule.open({
    config: loadConfig({ PALISADE_KEY_REFRESH_MS: '100' }),
    logger: createLogger('silent'),
    warehouse: watched,
    secrets: { current: () => { throw new Error('not needed here'); } } as unknown as SecretsProvider,
    adminToken: 'adm_test',
    audit: { record: () => undefined, recordDurable: () => Promise.reject(new Error('not needed here')) },
  });
  edge.start();
});

after(() => edge?.drain());

const fullReads = () => sent.filter((s) => /FROM api_keys FINAL/.test(s)).length;
const until = async (ok: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('with nothing changed, a refresh is one stamp query, not a reload of every tenant and key', async () => {
  const before = fullReads();
  const probes = sent.length;
  await new Promise((r) => setTimeout(r, 1_000));
  assert.ok(sent.length - probes >= 5, `the timer ran (${sent.length - probes} queries)`);
  assert.equal(fullReads(), before, 'no reload while nothing changed');
});

test('a tenant, a key and a revocation made by another node reach the key table within a refresh or two', async () => {
  const other = new ControlPlane(wh);
  const tenant = await other.createTenant('elsewhere');
  const { key } = await other.createKey(tenant.id, 'ingest');
  await until(() => edge.keys.activeKey(key.id) !== undefined, 3_000, 'the new key reached the edge');
  await other.revokeKey(key.id);
  await until(() => edge.keys.activeKey(key.id) === undefined, 3_000, 'the revocation reached the edge');
  await other.markDeleted(tenant.id);
  await until(() => edge.keys.tenant(tenant.id)?.deleted === true, 3_000, 'the deletion reached the edge');
});

test('an edge-settings change made by another node reaches the key table', async () => {
  const other = new ControlPlane(wh);
  const tenant = await other.createTenant('settings-elsewhere');
  await until(() => edge.keys.tenant(tenant.id) !== undefined, 3_000, 'the tenant reached the edge');
  const reads = fullReads();
  await edge.settings.update(tenant.id, { scrubPii: true });
  await until(() => edge.keys.tenant(tenant.id)?.settings?.scrubPii === true, 3_000, 'the setting reached the edge');
  assert.ok(fullReads() > reads);
});
