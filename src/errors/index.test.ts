import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, ErrorCode } from './index.ts';

test('a refusal carries its code, status and message but no stack frames, and other errors keep theirs', () => {
  const limit = Error.stackTraceLimit;
  const err = new AppError(ErrorCode.UNAUTHORIZED, 'credentials required', { retryAfter: 2 });
  assert.equal(err.code, ErrorCode.UNAUTHORIZED);
  assert.equal(err.status, 401);
  assert.equal(err.retryAfter, 2);
  assert.equal(err.stack, 'AppError: credentials required');
  assert.equal(Error.stackTraceLimit, limit, 'the limit is restored');
  assert.ok((new Error('bug').stack ?? '').split('\n').length > 1);
});
