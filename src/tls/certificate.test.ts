/**
 * The listeners' TLS material: a first start on an empty data directory
 * generates a certificate for localhost (the key readable by the owner
 * only), later starts reuse it, one within a week of expiry is replaced, and
 * an operator's own certificate and key win over all of that.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { generateSelfSigned, loadTls } from './certificate.ts';

let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'palisade-tls-'));
});

after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const DAY = 86_400_000;

test('a first start generates a certificate for localhost and 127.0.0.1, its key 0600 in a 0700 directory', async () => {
  const tls = await loadTls({ dataDir });
  assert.equal(tls.selfSigned, true);
  const x = new X509Certificate(tls.cert);
  assert.ok(x.checkHost('localhost'));
  assert.ok(x.checkIP('127.0.0.1'));
  assert.ok(x.checkPrivateKey(createPrivateKey(tls.key)));
  assert.ok(Math.abs(tls.notAfter.getTime() - (Date.now() + 365 * DAY)) < DAY);
  assert.equal((await stat(path.join(dataDir, 'tls'))).mode & 0o777, 0o700);
  assert.equal((await stat(path.join(dataDir, 'tls', 'self-signed.key'))).mode & 0o777, 0o600);
  assert.equal(await readFile(path.join(dataDir, 'tls', 'self-signed.crt'), 'utf8'), tls.cert);
});

test('a later start reuses it', async () => {
  const first = await loadTls({ dataDir });
  const again = await loadTls({ dataDir });
  assert.equal(again.cert, first.cert);
  assert.equal(again.key, first.key);
});

test('one within a week of expiry is replaced, not served', async () => {
  const nearlyExpired = await generateSelfSigned(5);
  await writeFile(path.join(dataDir, 'tls', 'self-signed.crt'), nearlyExpired.cert);
  await writeFile(path.join(dataDir, 'tls', 'self-signed.key'), nearlyExpired.key);
  const tls = await loadTls({ dataDir });
  assert.notEqual(tls.cert, nearlyExpired.cert);
  assert.ok(tls.notAfter.getTime() > Date.now() + 300 * DAY);
  assert.equal(await readFile(path.join(dataDir, 'tls', 'self-signed.crt'), 'utf8'), tls.cert);
});

test("an operator's certificate and key are used as given", async () => {
  const own = await generateSelfSigned(30);
  const certFile = path.join(dataDir, 'operator.crt');
  const keyFile = path.join(dataDir, 'operator.key');
  await writeFile(certFile, own.cert);
  await writeFile(keyFile, own.key);
  const tls = await loadTls({ dataDir, certFile, keyFile });
  assert.deepEqual({ cert: tls.cert, key: tls.key, selfSigned: tls.selfSigned }, { cert: own.cert, key: own.key, selfSigned: false });
  assert.ok(Math.abs(tls.notAfter.getTime() - (Date.now() + 30 * DAY)) < DAY);
});
