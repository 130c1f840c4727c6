/**
 * The AWS provider against a mocked Secrets Manager (aws-sdk-client-mock
 * replaces the client's `send`; the AWS service cannot run here). What it
 * must do: pick a rotated secret up without a restart; refuse to start, with
 * a message naming the secret and the fix, when the first fetch fails; keep
 * the last good value and report (counter + a log line without the value)
 * when a later fetch fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createLogger } from '../log/index.ts';
import { AwsSecretsProvider } from './aws-secrets.ts';
import { SecretsError } from './file-secrets.ts';
import { PiiKeys } from './provider.ts';

const hex = () => randomBytes(32).toString('hex');

function secret(adminToken: string, piiKeyHex = hex()) {
  return JSON.stringify({ version: 1, adminToken, diskKeyHex: hex(), spoolKeys: { '1': hex() }, spoolKeyId: '1', piiKeyHex, clickhouse: { user: 'ingest', password: 'CANARY-CH-PASSWORD' } });
}

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

test('a rotated secret is picked up on the next refresh, without a restart', async () => {
  const mock = mockClient(SecretsManagerClient);
  const v1 = `pal_admin_${'a'.repeat(40)}`;
  const v2 = `pal_admin_${'b'.repeat(40)}`;
  mock.on(GetSecretValueCommand, { SecretId: 'palisade/prod' }).resolvesOnce({ SecretString: secret(v1) }).resolves({ SecretString: secret(v2) });
  const { lines, logger } = capture();
  const p = await AwsSecretsProvider.open({ secretId: 'palisade/prod', refreshMs: 20, logger, client: new SecretsManagerClient({ region: 'eu-west-1' }) });
  const pii = new PiiKeys(() => p.current());
  assert.equal(p.current().adminToken, v1);
  const before = pii.forTenant('ten_A');
  const rotated: string[] = [];
  p.onRotate((s) => rotated.push(s.adminToken));
  p.start();
  try {
    const deadline = Date.now() + 5_000;
    while (p.current().adminToken !== v2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  } finally {
    p.stop();
  }
  assert.equal(p.current().adminToken, v2);
  assert.deepEqual(rotated, [v2]);
  assert.equal(p.status().rotations, 1);
  assert.notDeepEqual(pii.forTenant('ten_A'), before, 'the PII keys follow the new master at once');
  assert.equal(pii.forTenant('ten_A').length, 32);
  assert.ok(!lines.join('').includes(v2) && !lines.join('').includes('CANARY'), 'no secret in the log');
  mock.restore();
});

test('a fetch failure at start is a clear SecretsError naming the secret and the fix, never the value', async () => {
  const mock = mockClient(SecretsManagerClient);
  mock.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'Secrets Manager cannot find the specified secret.', $metadata: {} }));
  const { logger } = capture();
  await assert.rejects(
    AwsSecretsProvider.open({ secretId: 'arn:aws:secretsmanager:eu-west-1:123:secret:palisade', region: 'eu-west-1', refreshMs: 1_000, logger, client: new SecretsManagerClient({ region: 'eu-west-1' }) }),
    (err: Error) => {
      assert.ok(err instanceof SecretsError);
      assert.match(err.message, /secret arn:aws:secretsmanager:eu-west-1:123:secret:palisade in eu-west-1\): ResourceNotFoundException/);
      assert.match(err.message, /PALISADE_AWS_SECRET_ID/);
      return true;
    },
  );
  // A secret that is there but malformed: the message names the field, not the value.
  mock.reset();
  mock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ version: 1, adminToken: 'CANARY-short', diskKeyHex: 'zz' }) });
  await assert.rejects(AwsSecretsProvider.open({ secretId: 's', refreshMs: 1_000, logger, client: new SecretsManagerClient({ region: 'eu-west-1' }) }), (err: Error) => {
    assert.match(err.message, /malformed at adminToken/);
    assert.ok(!err.message.includes('CANARY'));
    return true;
  });
  mock.reset();
  mock.on(GetSecretValueCommand).resolves({ SecretString: '{"adminToken": "CANARY-not-json' });
  await assert.rejects(AwsSecretsProvider.open({ secretId: 's', refreshMs: 1_000, logger, client: new SecretsManagerClient({ region: 'eu-west-1' }) }), (err: Error) => {
    assert.match(err.message, /not JSON/);
    assert.ok(!err.message.includes('CANARY'));
    return true;
  });
  mock.restore();
});

test('a failure after start keeps the last good value, counts, and logs without the value', async () => {
  const mock = mockClient(SecretsManagerClient);
  const good = `pal_admin_${'g'.repeat(40)}`;
  mock
    .on(GetSecretValueCommand)
    .resolvesOnce({ SecretString: secret(good) })
    .rejectsOnce(Object.assign(new Error(`throttled; secret was ${good}`), { name: 'ThrottlingException' }))
    .resolvesOnce({ SecretString: '{"broken": CANARY' })
    .resolves({ SecretString: secret(good) });
  const { lines, logger } = capture();
  const p = await AwsSecretsProvider.open({ secretId: 'palisade/prod', refreshMs: 60_000, logger, client: new SecretsManagerClient({ region: 'eu-west-1' }) });
  assert.equal(await p.refresh(), false);
  assert.equal(await p.refresh(), false);
  assert.equal(p.current().adminToken, good);
  assert.deepEqual({ ...p.status(), lastSuccessAt: 0 }, { provider: 'aws', lastSuccessAt: 0, consecutiveFailures: 2, refreshFailures: 2, rotations: 0 });
  assert.equal(await p.refresh(), true);
  assert.equal(p.status().consecutiveFailures, 0);
  const log = lines.join('');
  assert.match(log, /ThrottlingException/);
  assert.match(log, /keeping the last good value/);
  assert.ok(!log.includes(good) && !log.includes('CANARY'), log);
  mock.restore();
});
