/**
 * The AWS Secrets Manager provider in a real server process, through the real
 * SDK, against a stand-in for the Secrets Manager endpoint on loopback (the
 * JSON protocol is one POST; PALISADE_AWS_SECRETS_ENDPOINT points the SDK at
 * it, as it would at a VPC endpoint or LocalStack). The unit tests in
 * src/secrets/aws-secrets.test.ts cover the same behaviour with
 * aws-sdk-client-mock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { BIN, removeDir, ROOT, runCli, tempDir, waitFor } from './helpers/palisade.ts';

const hex = () => randomBytes(32).toString('hex');
const ADMIN = `pal_admin_${randomBytes(24).toString('hex')}`;

function secretJson(piiKeyHex: string) {
  return JSON.stringify({ version: 1, adminToken: ADMIN, diskKeyHex: hex(), spoolKeys: { '1': hex() }, spoolKeyId: '1', piiKeyHex });
}

function awsEnv(dataDir: string, endpoint: string): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLICKHOUSE_') && !k.startsWith('AWS_')));
  return {
    ...inherited,
    PALISADE_DATA_DIR: dataDir,
    PALISADE_PORT: '0',
    PALISADE_ADMIN_PORT: '0',
    PALISADE_SECRETS_PROVIDER: 'aws',
    PALISADE_AWS_SECRET_ID: 'palisade/test',
    PALISADE_AWS_SECRETS_ENDPOINT: endpoint,
    PALISADE_SECRETS_REFRESH_MS: '1000',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'test-only-not-a-secret',
  };
}

test('an unreachable Secrets Manager at start: one clear line and exit 2, nothing listens', async () => {
  const dataDir = await tempDir();
  try {
    const r = await runCli(['serve'], awsEnv(dataDir, 'http://127.0.0.1:1'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^palisade: cannot read the service secrets from AWS Secrets Manager \(secret palisade\/test in eu-west-1\): Error ECONNREFUSED\. Check PALISADE_AWS_SECRET_ID/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(r.stdout, /listening/);
  } finally {
    await removeDir(dataDir);
  }
});

test('a running server picks up a rotated secret and, when a refresh fails, keeps the last good value and says so without the value', async () => {
  let current = secretJson(hex());
  let failing = false;
  const calls: string[] = [];
  const fake = http.createServer((req, res) => {
    calls.push(String(req.headers['x-amz-target']));
    req.resume();
    req.on('end', () => {
      if (failing) {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: 'InternalServiceError', message: 'boom' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:palisade/test', Name: 'palisade/test', SecretString: current, VersionId: 'v' }));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const dataDir = await tempDir();
  const env = awsEnv(dataDir, `http://127.0.0.1:${(fake.address() as { port: number }).port}`);
  const proc = spawn(process.execPath, [BIN, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n')));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n')));
  try {
    const listening = await waitFor(async () => out.find((l) => l.includes('palisade listening')) ?? (proc.exitCode !== null ? 'exited' : false), 60_000, 'start');
    assert.notEqual(listening, 'exited', out.join('\n'));
    const ports = JSON.parse(listening) as { adminPort: number; secrets: string };
    assert.equal(ports.secrets, 'aws');
    assert.equal(calls[0], 'secretsmanager.GetSecretValue');
    const ca = await readFile(path.join(dataDir, 'tls', 'self-signed.crt'), 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    const metrics = async () => (await (await request(`https://127.0.0.1:${ports.adminPort}/metrics`, { dispatcher })).body.text());
    const value = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
    // The admin token is the secret's.
    const tenants = await request(`https://127.0.0.1:${ports.adminPort}/admin/tenants`, { dispatcher, headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(tenants.statusCode, 200);
    await tenants.body.dump();

    current = secretJson(hex());
    await waitFor(async () => value(await metrics(), 'palisade_secrets_rotations_total') === 1, 10_000, 'rotation picked up');
    failing = true;
    await waitFor(async () => value(await metrics(), 'palisade_secrets_refresh_failures_total') >= 1, 15_000, 'a failed refresh counted');
    assert.ok(value(await metrics(), 'palisade_secrets_consecutive_refresh_failures') >= 1);
    const health = await request(`https://127.0.0.1:${ports.adminPort}/admin/tenants`, { dispatcher, headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(health.statusCode, 200, 'the last good value stays in use');
    await health.body.dump();
    await dispatcher.close();
    const log = out.join('\n');
    assert.match(log, /service secrets rotated/);
    assert.match(log, /service secrets refresh failed; keeping the last good value/);
    assert.ok(!log.includes(ADMIN) && !log.includes(JSON.parse(current).piiKeyHex), 'no secret value in the log');
  } finally {
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    fake.close();
    await removeDir(dataDir);
  }
});
