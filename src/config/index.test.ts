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
  assert.deepEqual(c.clickhouse, { kind: 'server', url: 'https://ch.internal:8443', user: 'ingest', password: 'pw', database: 'palisade', timeoutMs: 30_000, migrateOnStart: true });
});

test('PALISADE_CLICKHOUSE_CLUSTER: server path only; edges then do not migrate at start unless told to', () => {
  const url = { CLICKHOUSE_URL: 'https://ch.internal:8443' };
  const c = loadConfig({ ...url, PALISADE_CLICKHOUSE_CLUSTER: 'palisade' });
  assert.ok(c.clickhouse.kind === 'server');
  assert.equal(c.clickhouse.cluster, 'palisade');
  assert.equal(c.clickhouse.migrateOnStart, false);
  assert.equal(loadConfig({ ...url, PALISADE_CLICKHOUSE_CLUSTER: 'palisade', PALISADE_MIGRATE_ON_START: 'true' }).clickhouse.migrateOnStart, true);
  assert.equal(loadConfig({ ...url, PALISADE_MIGRATE_ON_START: 'false' }).clickhouse.migrateOnStart, false);
  assert.throws(() => loadConfig({ PALISADE_CLICKHOUSE_CLUSTER: 'palisade' }), (err: unknown) => err instanceof ConfigError && /PALISADE_CLICKHOUSE_CLUSTER: needs CLICKHOUSE_URL/.test(err.message));
  assert.throws(() => loadConfig({ ...url, PALISADE_CLICKHOUSE_CLUSTER: "c' ON" }), /PALISADE_CLICKHOUSE_CLUSTER: must be a cluster name/);
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

test('the access anomaly watch: defaults, overrides, off, and bad values named', () => {
  const c = loadConfig({});
  assert.deepEqual(c.anomaly, {
    countryHeader: undefined,
    windowMs: 600_000,
    countryWindowMs: 3_600_000,
    learningMs: 3_600_000,
    cooldownMs: 3_600_000,
    newIps: 10,
    newCountries: 3,
    foreignOrigin: 20,
    authFailures: 20,
    queryFactor: 10,
    queryFloor: 120,
    queryWarmupMs: 1_800_000,
    queryBucketMs: 60_000,
  });
  const d = loadConfig({ PALISADE_COUNTRY_HEADER: 'CF-IPCountry', PALISADE_ANOMALY_LEARNING: 'off', PALISADE_ANOMALY_NEW_IPS: '0', PALISADE_ANOMALY_QUERY_FACTOR: '2.5' });
  assert.equal(d.anomaly?.countryHeader, 'cf-ipcountry');
  assert.equal(d.anomaly?.learningMs, 0);
  assert.equal(d.anomaly?.newIps, 0);
  assert.equal(d.anomaly?.queryFactor, 2.5);
  assert.equal(loadConfig({ PALISADE_ANOMALY_WATCH: 'false' }).anomaly, null);
  assert.throws(() => loadConfig({ PALISADE_COUNTRY_HEADER: 'X-Country: DE' }), /PALISADE_COUNTRY_HEADER: must be a header name/);
  assert.throws(() => loadConfig({ PALISADE_ANOMALY_WINDOW: 'off' }), /PALISADE_ANOMALY_WINDOW/);
  assert.throws(() => loadConfig({ PALISADE_ANOMALY_NEW_IPS: '-1' }), /PALISADE_ANOMALY_NEW_IPS/);
});

test('per-tenant query concurrency: defaults to the node\'s, and a value above the node\'s is refused naming both variables', () => {
  assert.equal(loadConfig({}).query.maxPerTenant, loadConfig({}).query.maxConcurrent);
  assert.equal(loadConfig({ PALISADE_QUERY_MAX_CONCURRENT: '6' }).query.maxPerTenant, 6);
  assert.equal(loadConfig({ PALISADE_QUERY_MAX_CONCURRENT: '6', PALISADE_QUERY_MAX_PER_TENANT: '3' }).query.maxPerTenant, 3);
  assert.throws(() => loadConfig({ PALISADE_QUERY_MAX_PER_TENANT: '8' }), /PALISADE_QUERY_MAX_PER_TENANT: 8 is above PALISADE_QUERY_MAX_CONCURRENT \(2\)/);
});
