/**
 * Where the service secrets come from: the embedded default's 0600 file, or
 * AWS Secrets Manager (PALISADE_SECRETS_PROVIDER / PALISADE_AWS_SECRET_ID).
 * Both give the same JSON (SecretsSchema). Values read at every use (the
 * PII hashing keys) follow a rotation at once; values bound at start (the
 * engine's disk key, the spool keys, the ClickHouse client, the admin token)
 * take a rotation at the next restart, and the log says so.
 */
import { hkdfSync } from 'node:crypto';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { SecretsStatus } from './aws-secrets.ts';
import { loadOrCreateSecrets, type ServiceSecrets } from './file-secrets.ts';

export interface SecretsProvider {
  readonly kind: 'file' | 'aws';
  /** True on the embedded default's first start (the admin token is then printed once). */
  readonly created: boolean;
  current(): ServiceSecrets;
  status(): SecretsStatus;
  start(): void;
  stop(): void;
}

class FileSecretsProvider implements SecretsProvider {
  readonly kind = 'file' as const;
  private readonly at = Date.now();
  constructor(
    private readonly value: ServiceSecrets,
    readonly created: boolean,
  ) {}
  current(): ServiceSecrets {
    return this.value;
  }
  status(): SecretsStatus {
    return { provider: 'file', lastSuccessAt: this.at, consecutiveFailures: 0, refreshFailures: 0, rotations: 0 };
  }
  start(): void {}
  stop(): void {}
}

export async function openSecrets(config: Config, logger: Logger): Promise<SecretsProvider> {
  const s = config.secrets;
  if (s.provider === 'file') {
    const { secrets, created } = await loadOrCreateSecrets(config.dataDir);
    return new FileSecretsProvider(secrets, created);
  }
  // The AWS SDK (~30 ms to load) only when AWS is the provider.
  const { AwsSecretsProvider } = await import('./aws-secrets.ts');
  const aws = await AwsSecretsProvider.open({ secretId: s.secretId, region: s.region, endpoint: s.endpoint, refreshMs: s.refreshMs, logger });
  aws.onRotate(() => logger.warn('service secrets rotated: PII hashing keys follow now; disk, spool, ClickHouse and admin credentials at the next restart'));
  return aws;
}

/** ClickHouse server credentials from the secrets when they carry some (they win over CLICKHOUSE_USER/PASSWORD and the _QUERY_/_INGEST_ pairs). */
export function withSecretCredentials(config: Config, secrets: ServiceSecrets): Config {
  if (config.clickhouse.kind !== 'server') return config;
  const ch = { ...config.clickhouse };
  if (secrets.clickhouse) Object.assign(ch, { user: secrets.clickhouse.user, password: secrets.clickhouse.password });
  if (secrets.clickhouseQuery) ch.queryUser = { user: secrets.clickhouseQuery.user, password: secrets.clickhouseQuery.password };
  if (secrets.clickhouseIngest) ch.ingestUser = { user: secrets.clickhouseIngest.user, password: secrets.clickhouseIngest.password };
  return { ...config, clickhouse: ch };
}

/**
 * Per-tenant PII hashing keys: HKDF-SHA-256(master, tenant id). One tenant's
 * hashes say nothing about another's, and the master key never leaves here.
 * The master is piiKeyHex, or (older secrets without one) derived from the
 * disk key under its own label, as the backup disk's key is.
 */
export class PiiKeys {
  private cache = new Map<string, Buffer>();
  private master: string | undefined;

  constructor(private readonly secrets: () => ServiceSecrets) {}

  forTenant(tenantId: string): Buffer {
    const s = this.secrets();
    const master = s.piiKeyHex ?? s.diskKeyHex;
    if (master !== this.master) {
      // Rotated: hashes change from here on (equal values still group within each period).
      this.cache = new Map();
      this.master = master;
    }
    let key = this.cache.get(tenantId);
    if (!key) {
      const ikm = s.piiKeyHex
        ? Buffer.from(s.piiKeyHex, 'hex')
        : Buffer.from(hkdfSync('sha256', Buffer.from(s.diskKeyHex, 'hex'), Buffer.alloc(0), 'palisade pii master v1', 32));
      key = Buffer.from(hkdfSync('sha256', ikm, Buffer.from('palisade pii tenant v1'), tenantId, 32));
      // Bounded by the number of tenants this node serves.
      this.cache.set(tenantId, key);
    }
    return key;
  }
}
