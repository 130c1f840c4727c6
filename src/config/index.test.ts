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
