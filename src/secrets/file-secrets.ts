/**
 * Service secrets for the embedded default: one JSON file in the data
 * directory, created on first start with mode 0600 and refused if anyone else
 * can read it. (A server deployment reads the same values from AWS Secrets
 * Manager: src/secrets/aws-secrets.ts.)
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { randomBase62 } from '../auth/base62.ts';

/**
 * The service secrets, the same JSON whichever provider holds it (the 0600
 * file here, or the SecretString of an AWS Secrets Manager secret; see
 * docs/hardening.md):
 *   adminToken   the admin listener's bearer token
 *   diskKeyHex   AES-256 key of the embedded engine's encrypted disk; the backup disk's key is derived from it
 *   spoolKeys    AES-256-GCM keys of the spool by id; spoolKeyId names the one new records use
 *   piiKeyHex    optional: master key of the per-tenant PII hashing keys (HKDF of diskKeyHex when absent)
 *   clickhouse   optional: ClickHouse server credentials, instead of CLICKHOUSE_USER/CLICKHOUSE_PASSWORD
 *   clickhouseQuery, clickhouseIngest   optional: the query and ingest logins (ops/clickhouse),
 *                instead of CLICKHOUSE_QUERY_USER/_PASSWORD and CLICKHOUSE_INGEST_USER/_PASSWORD
 */
const HEX256 = /^[0-9a-f]{64}$/;
export const SecretsSchema = z.object({
  version: z.literal(1),
  adminToken: z.string().min(32),
  diskKeyHex: z.string().regex(HEX256),
  spoolKeys: z.record(z.string().regex(/^[0-9]{1,6}$/), z.string().regex(HEX256)),
  spoolKeyId: z.string(),
  piiKeyHex: z.string().regex(HEX256).optional(),
  clickhouse: z.object({ user: z.string().min(1).max(256), password: z.string().max(1024) }).optional(),
  clickhouseQuery: z.object({ user: z.string().min(1).max(256), password: z.string().max(1024) }).optional(),
  clickhouseIngest: z.object({ user: z.string().min(1).max(256), password: z.string().max(1024) }).optional(),
});
export type ServiceSecrets = z.infer<typeof SecretsSchema>;

export const SECRETS_FILE = 'secrets.json';

export function newSecrets(): ServiceSecrets {
  return {
    version: 1,
    adminToken: `pal_admin_${randomBase62(43)}`,
    diskKeyHex: randomBytes(32).toString('hex'),
    spoolKeys: { '1': randomBytes(32).toString('hex') },
    spoolKeyId: '1',
  };
}

export class SecretsError extends Error {
  override name = 'SecretsError';
}

export async function readSecrets(dataDir: string): Promise<ServiceSecrets> {
  const file = path.join(dataDir, SECRETS_FILE);
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new SecretsError(`${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  const parsed = SecretsSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new SecretsError(`${file} is malformed: ${parsed.error.issues[0]?.path.join('.')}`);
  if (!parsed.data.spoolKeys[parsed.data.spoolKeyId]) throw new SecretsError(`${file}: spoolKeyId names no key`);
  return parsed.data;
}

/** Reads the secrets file, creating it (0600, exclusive) on first start. */
export async function loadOrCreateSecrets(dataDir: string): Promise<{ secrets: ServiceSecrets; created: boolean }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, SECRETS_FILE);
  try {
    const fh = await open(file, 'wx', 0o600);
    const secrets = newSecrets();
    try {
      await fh.writeFile(JSON.stringify(secrets, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(file, 0o600);
    return { secrets, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return { secrets: await readSecrets(dataDir), created: false };
}
