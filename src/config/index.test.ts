import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './index.ts';

test('defaults give the embedded quick start', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8443);
  assert.equal(c.adminPort, 8444);
  assert.equal(c.adminHost, '127.0.0.1');
  assert.equal(c.clickhouse.kind, 'embedded');
  assert.equal(c.limits.maxEventBytes, 32 * 1024);
  assert.equal(c.limits.maxBodyBytes, 500 * 1024);
  assert.ok(c.dataDir.endsWith('/data'));
});

test('CLICKHOUSE_URL switches to the server adapter', () => {
  const c = loadConfig({ CLICKHOUSE_URL: 'https://ch.internal:8443', CLICKHOUSE_USER: 'ingest', CLICKHOUSE_PASSWORD: 'pw' });
  assert.deepEqual(c.clickhouse, { kind: 'server', url: 'https://ch.internal:8443', user: 'ingest', password: 'pw', database: 'palisade', timeoutMs: 30_000 });
});

test('a bad value names the variable and the fix', () => {
  assert.throws(() => loadConfig({ PALISADE_PORT: 'eighty' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /PALISADE_PORT: .*fix the value or unset it/);
    return true;
  });
  assert.throws(() => loadConfig({ PALISADE_TLS_CERT: '/x.pem' }), /PALISADE_TLS_CERT\/PALISADE_TLS_KEY: set both/);
  assert.throws(() => loadConfig({ CLICKHOUSE_DATABASE: 'x; DROP' }), /CLICKHOUSE_DATABASE/);
});

test('query limits and dashboard origins have defaults and are validated', () => {
  const c = loadConfig({});
  assert.equal(c.query.timeoutMs, 15_000);
  assert.equal(c.query.maxConcurrent, 2);
  assert.equal(c.query.tenantSetting, '');
  assert.deepEqual(c.dashboardOrigins, []);
  const d = loadConfig({ PALISADE_DASHBOARD_ORIGINS: 'https://dash.example, http://localhost:3000', PALISADE_QUERY_MAX_ROWS_TO_READ: '1000000' });
  assert.deepEqual(d.dashboardOrigins, ['https://dash.example', 'http://localhost:3000']);
  assert.equal(d.query.maxRowsToRead, 1_000_000);
  assert.throws(() => loadConfig({ PALISADE_DASHBOARD_ORIGINS: 'https://dash.example/path' }), /PALISADE_DASHBOARD_ORIGINS/);
  assert.throws(() => loadConfig({ PALISADE_DASHBOARD_ORIGINS: '*' }), /PALISADE_DASHBOARD_ORIGINS/);
  assert.throws(() => loadConfig({ PALISADE_QUERY_TENANT_SETTING: "x' OR 1" }), /PALISADE_QUERY_TENANT_SETTING/);
});
