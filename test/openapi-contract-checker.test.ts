/**
 * The contract checker the OpenAPI contract test relies on
 * (test/helpers/openapi-contract.ts) refuses what it should, so that test
 * can fail: a status the document does not list, a body off its schema, a
 * content type the response does not declare, a method the path lacks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPublicDocument } from '../src/http/openapi/index.ts';
import { ContractChecker, type OpenApiDoc } from './helpers/openapi-contract.ts';

const doc = buildPublicDocument() as unknown as OpenApiDoc;
const JSON_TYPE = { 'content-type': 'application/json' };
const res = (status: number, body: unknown, headers: Record<string, string> = JSON_TYPE) => ({ status, headers, text: JSON.stringify(body) });
const error = (code: string) => ({ error: { code, message: 'm', requestId: 'r' } });

describe('ContractChecker', () => {
  const c = new ContractChecker(doc, 405);

  it('passes a documented answer', () => {
    c.check('POST', '/v1/batch', res(200, { success: true }));
    c.check('POST', '/v1/batch', res(200, { success: true, accepted: 1, rejected: [{ index: 1, code: 'invalid_event', message: 'm' }] }));
    c.check('POST', '/v1/batch', res(401, error('invalid_credential')));
    c.check('DELETE', '/v1/support-grants/sg_1', res(404, error('not_found')));
  });

  it('refuses a status the operation does not list', () => {
    assert.throws(() => c.check('POST', '/v1/batch', res(409, error('conflict'))), /status not in the document/);
  });

  it('refuses a body off its schema: a missing field, an extra field, a code of another status', () => {
    assert.throws(() => c.check('POST', '/v1/batch', res(200, {})), /does not match/);
    assert.throws(() => c.check('POST', '/v1/batch', res(200, { success: true, tenant: 'ten_x' })), /does not match/);
    assert.throws(() => c.check('POST', '/v1/batch', res(401, error('wrong_scope'))), /does not match/);
    assert.throws(() => c.check('POST', '/v1/batch', res(200, { success: true, rejected: [{ index: -1, code: 'invalid_event', message: 'm' }] })), /does not match/);
  });

  it('refuses a content type the response does not declare', () => {
    assert.throws(() => c.check('POST', '/v1/batch', res(200, { success: true }, { 'content-type': 'text/html' })), /content type/);
  });

  it('a method the path does not list must be the documented refusal', () => {
    c.check('GET', '/v1/batch', res(405, error('method_not_allowed')));
    assert.throws(() => c.check('GET', '/v1/batch', res(200, { success: true })), /must be 405/);
    assert.throws(() => c.check('GET', '/v1/batch', res(405, { oops: true })), /does not match/);
  });

  it('an unlisted path must be a 404 with the error body', () => {
    c.checkUnlisted('POST', '/v1/nope', res(404, error('not_found')));
    assert.throws(() => c.checkUnlisted('POST', '/v1/nope', res(200, {})), /must be 404/);
    assert.throws(() => c.checkUnlisted('POST', '/v1/batch', res(404, error('not_found'))), /is in the document/);
  });

  it('a request the server accepted must be one its document allows', () => {
    c.checkAcceptedRequest('POST', '/v1/track', 'application/json', { type: 'track', event: 'x', userId: 'u1' });
    assert.throws(() => c.checkAcceptedRequest('POST', '/v1/track', 'application/json', { type: 'track', userId: 'u1' }), /document refuses/);
    assert.throws(() => c.checkAcceptedRequest('POST', '/v1/track', 'application/xml', {}), /does not describe/);
  });

  it('reports operations that never answered a 2xx', () => {
    const fresh = new ContractChecker(doc, 405);
    fresh.check('POST', '/v1/batch', res(200, { success: true }));
    const missing = fresh.operationsWithoutSuccess();
    assert.ok(!missing.includes('POST /v1/batch'));
    assert.ok(missing.includes('POST /v1/query'));
  });
});
