import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../errors/index.ts';
import { Admission, type RefusalReason } from './admission.ts';

function admission(full: { value: boolean }) {
  const refused: RefusalReason[] = [];
  const a = new Admission({ isFull: () => full.value }, (r) => refused.push(r));
  return { a, refused };
}

test('accepts while the spool has room and the edge is not draining', () => {
  const { a, refused } = admission({ value: false });
  assert.equal(a.accepting(), undefined);
  assert.equal(a.draining, false);
  assert.deepEqual(refused, []);
});

test('a full spool: 503 spool_full with a 5 s Retry-After, counted', () => {
  const full = { value: true };
  const { a, refused } = admission(full);
  const err = a.accepting();
  assert.equal(err?.code, ErrorCode.SPOOL_FULL);
  assert.equal(err?.retryAfter, 5);
  full.value = false;
  assert.equal(a.accepting(), undefined, 'accepts again once the flusher made room');
  assert.deepEqual(refused, ['spool_full']);
});

test('draining wins over a full spool: 503 with a 1 s Retry-After so clients move to another edge', () => {
  const { a, refused } = admission({ value: true });
  a.refuseNew();
  const err = a.accepting();
  assert.equal(err?.code, ErrorCode.UNAVAILABLE);
  assert.equal(err?.retryAfter, 1);
  assert.equal(a.draining, true);
  assert.deepEqual(refused, ['draining']);
});
