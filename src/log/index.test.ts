import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, fixedFieldsLogger, type Logger } from './index.ts';

function capture(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = createLogger('info', { write: (s: string) => void out.push(s) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('a field named like a credential is redacted at the top level and two levels down', () => {
  const { logger, lines } = capture();
  logger.info({ authorization: 'Basic abc', request: { token: 't' }, deep: { headers: { cookie: 'c' } }, tenantId: 'ten_1' }, 'probe');
  const [line] = lines();
  assert.equal(line!.authorization, '[redacted]');
  assert.deepEqual(line!.request, { token: '[redacted]' });
  assert.deepEqual(line!.deep, { headers: { cookie: '[redacted]' } });
  assert.equal(line!.tenantId, 'ten_1');
});

test('the fixed-fields logger writes the same line at the parent’s level without the walk, and the parent still redacts', () => {
  const { logger, lines } = capture();
  const fixed = fixedFieldsLogger(logger);
  const access = { requestId: 'r-1', listener: 'api', method: 'POST', route: '/v1/:path', status: 401, durationMs: 0.4 };
  fixed.info(access, 'request');
  logger.info({ secret: 's' }, 'after');
  const [a, b] = lines();
  assert.deepEqual({ ...a, time: undefined }, { level: 30, time: undefined, service: 'palisade', ...access, msg: 'request' });
  assert.equal(b!.secret, '[redacted]');
  assert.equal(fixed.isLevelEnabled('debug'), false, 'the level is the parent’s');
  // No walk at all: which is why only fixed keys, none a credential's name, may go through it.
  fixed.info({ token: 't' }, 'unwalked');
  assert.equal(lines()[2]!.token, 't');
});
