/**
 * Per-tenant query caps through the public surface: an operator sets a
 * tenant's `query` setting with the admin API (or the CLI), that tenant alone
 * gets 422 over its own rows-to-read cap and 429 over its queries per minute,
 * a cap above the node's PALISADE_QUERY_* ceiling is refused with a 400 that
 * names the ceiling, and clearing the setting restores the node's limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basic, createTenant, removeDir, startPalisade, waitFor, type CreatedTenant, type HttpResult, type Palisade } from './helpers/palisade.ts';

let p: Palisade;
let capped: CreatedTenant;
let other: CreatedTenant;
const TREND = { kind: 'trend', from: '2026-11-01T00:00:00Z', to: '2026-11-30T00:00:00Z' };

before(async () => {
  p = await startPalisade({ env: { PALISADE_QUERY_TIMEOUT_MS: '20000', PALISADE_QUERY_MAX_ROWS_TO_READ: '1000000', PALISADE_QUERY_MAX_CONCURRENT: '4', PALISADE_QUERY_MAX_PER_TENANT: '4' } });
  [capped, other] = await Promise.all([createTenant(p, 'capped'), createTenant(p, 'other')]);
  const batch = Array.from({ length: 50 }, (_, i) => ({ type: 'track', event: 'Tick', userId: `u${i % 7}`, timestamp: new Date(Date.UTC(2026, 10, 20, 12, i)).toISOString() }));
  for (const t of [capped, other]) {
    const r = await p.api('POST', '/v1/batch', { body: { batch }, headers: basic(t.keys.ingest) });
    assert.equal(r.status, 200, r.text);
  }
  for (const t of [capped, other]) {
    await waitFor(async () => ((await query(t)).body as { total?: number }).total === 50 || undefined, 10_000, 'events to land');
  }
});

after(async () => {
  await p.kill();
  await removeDir(p.dataDir);
});

function query(who: CreatedTenant, body: unknown = TREND): Promise<HttpResult> {
  return p.api('POST', '/v1/query', { body, headers: basic(who.keys.query) });
}

function setQuery(t: CreatedTenant, value: unknown): Promise<HttpResult<{ settings: { query: unknown }; changed: string[] }>> {
  return p.admin('PATCH', `/admin/tenants/${t.tenant.id}/settings`, { query: value });
}

function expectError(r: HttpResult, status: number, code: string): string {
  assert.equal(r.status, status, r.text);
  const error = (r.body as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code);
  return error.message;
}

describe('per-tenant query caps', () => {
  test('defaults: no caps, and GET shows query: null', async () => {
    const r = await p.admin<{ settings: { query: unknown } }>('GET', `/admin/tenants/${capped.tenant.id}/settings`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.settings.query, null);
  });

  test('a rows-to-read cap: the capped tenant gets 422 query_too_expensive, the other does not', async () => {
    const set = await setQuery(capped, { maxRowsToRead: 10 });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body.settings.query, { maxRowsToRead: 10 });
    assert.deepEqual(set.body.changed, ['query']);
    expectError(await query(capped), 422, 'query_too_expensive');
    assert.equal((await query(other)).status, 200);
  });

  test('queries per minute: the capped tenant gets 429 too_many_queries with Retry-After, the other does not', async () => {
    assert.equal((await setQuery(capped, { queriesPerMinute: 2 })).status, 200);
    assert.equal((await query(capped)).status, 200);
    assert.equal((await query(capped)).status, 200);
    const refused = await query(capped);
    expectError(refused, 429, 'too_many_queries');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${String(refused.headers['retry-after'])}`);
    for (let i = 0; i < 4; i++) assert.equal((await query(other)).status, 200);
  });

  test('a cap above the node ceiling is refused 400 naming the ceiling, and nothing changes', async () => {
    const rows = await setQuery(capped, { maxRowsToRead: 1_000_001 });
    assert.match(expectError(rows, 400, 'query_cap_above_ceiling'), /maxRowsToRead.*1000000.*PALISADE_QUERY_MAX_ROWS_TO_READ/);
    const time = await setQuery(capped, { timeoutSeconds: 21 });
    assert.match(expectError(time, 400, 'query_cap_above_ceiling'), /timeoutSeconds.*20.*PALISADE_QUERY_TIMEOUT_MS/);
    const conc = await setQuery(capped, { maxConcurrent: 5 });
    assert.match(expectError(conc, 400, 'query_cap_above_ceiling'), /maxConcurrent.*4.*PALISADE_QUERY_MAX_PER_TENANT/);
    // Equal to the ceiling is allowed.
    assert.equal((await setQuery(capped, { queriesPerMinute: 2, timeoutSeconds: 20, maxConcurrent: 4 })).status, 200);
    expectError(await setQuery(capped, { maxRowsToRead: 0 }), 400, 'invalid_body');
    expectError(await setQuery(capped, { rowsPerQuery: 5 }), 400, 'invalid_body');
    const now = await p.admin<{ settings: { query: unknown } }>('GET', `/admin/tenants/${capped.tenant.id}/settings`);
    assert.deepEqual(now.body.settings.query, { queriesPerMinute: 2, timeoutSeconds: 20, maxConcurrent: 4 });
  });

  test('clearing the setting restores the node defaults', async () => {
    assert.equal((await setQuery(capped, { maxRowsToRead: 10 })).status, 200);
    expectError(await query(capped), 422, 'query_too_expensive');
    const cleared = await setQuery(capped, null);
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.body.settings.query, null);
    for (let i = 0; i < 4; i++) assert.equal((await query(capped)).status, 200);
  });

  test('the CLI sets and clears the caps', async () => {
    const set = await p.cli(['tenant', 'settings', capped.tenant.id, '--query-max-rows-to-read', '10', '--queries-per-minute', '30', '--json']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual((JSON.parse(set.stdout) as { settings: { query: unknown } }).settings.query, { maxRowsToRead: 10, queriesPerMinute: 30 });
    expectError(await query(capped), 422, 'query_too_expensive');
    const high = await p.cli(['tenant', 'settings', capped.tenant.id, '--query-timeout-seconds', '21', '--json']);
    assert.notEqual(high.code, 0);
    assert.match(high.stderr + high.stdout, /PALISADE_QUERY_TIMEOUT_MS/);
    const cleared = await p.cli(['tenant', 'settings', capped.tenant.id, '--query-caps', 'default', '--json']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal((JSON.parse(cleared.stdout) as { settings: { query: unknown } }).settings.query, null);
    assert.equal((await query(capped)).status, 200);
  });
});
