/**
 * TLS material for both listeners. A real certificate comes from
 * PALISADE_TLS_CERT/PALISADE_TLS_KEY; otherwise a self-signed ECDSA P-256
 * certificate for localhost is generated in-process on first start (no
 * openssl needed) and reused afterwards.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface TlsMaterial {
  cert: string;
  key: string;
  selfSigned: boolean;
  notAfter: Date;
}

const DAY_MS = 86_400_000;

/** When a certificate stops being valid: the one place its notAfter is read (PEM text or DER bytes). */
export function certificateNotAfter(cert: string | Buffer): Date {
  return new Date(new X509Certificate(cert).validTo);
}

/** Days until the certificate expires (negative once it has). */
export function daysUntilExpiry(notAfter: Date, now = Date.now()): number {
  return (notAfter.getTime() - now) / DAY_MS;
}

export async function generateSelfSigned(days = 365): Promise<{ cert: string; key: string }> {
  // Loaded here, not at the top: the certificate library (x509, asn1, webcrypto shims) costs ~80 ms of
  // every start and every CLI call, and only a first start without a certificate needs it.
  const { generate } = await import('selfsigned');
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + days * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export async function loadTls(o: { dataDir: string; certFile?: string; keyFile?: string }): Promise<TlsMaterial> {
  if (o.certFile && o.keyFile) {
    const cert = await readFile(o.certFile, 'utf8');
    const key = await readFile(o.keyFile, 'utf8');
    return { cert, key, selfSigned: false, notAfter: certificateNotAfter(cert) };
  }
  const { certPath, keyPath } = selfSignedPaths(o.dataDir);
  try {
    const cert = await readFile(certPath, 'utf8');
    const key = await readFile(keyPath, 'utf8');
    const notAfter = certificateNotAfter(cert);
    // Regenerate a week before expiry rather than serve an expired certificate.
    if (daysUntilExpiry(notAfter) > 7) return { cert, key, selfSigned: true, notAfter };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { cert, key } = await generateSelfSigned();
  await storeSelfSigned(o.dataDir, { cert, key });
  return { cert, key, selfSigned: true, notAfter: certificateNotAfter(cert) };
}

function selfSignedPaths(dataDir: string): { dir: string; certPath: string; keyPath: string } {
  const dir = path.join(dataDir, 'tls');
  return { dir, certPath: path.join(dir, 'self-signed.crt'), keyPath: path.join(dir, 'self-signed.key') };
}

/** Writes a self-signed pair where loadTls finds it: the key 0600, in a 0700 directory. */
export async function storeSelfSigned(dataDir: string, pair: { cert: string; key: string }): Promise<void> {
  const { dir, certPath, keyPath } = selfSignedPaths(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pair.key, { mode: 0o600 });
  await writeFile(certPath, pair.cert, { mode: 0o644 });
}
