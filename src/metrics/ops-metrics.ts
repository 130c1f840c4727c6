/**
 * Gauges for the alert rules that need a fact only the edge knows: certificate
 * expiry, backup recency, ClickHouse reachability and free space on the data
 * directory. Read at scrape time like metrics.ts; no labels.
 */
import { Gauge, type Registry } from 'prom-client';
import type { BackupStatus } from '../ops/backup.ts';
import { diskSpace, type DiskSpace } from '../ops/disk.ts';
import { certificateNotAfter } from '../tls/certificate.ts';

export interface OpsMetricSources {
  tlsCertPem: string;
  backups: () => BackupStatus;
  /** Cached ping (at most one per second), as /readyz uses. */
  clickhouseUp: () => Promise<boolean>;
  dataDir: string;
}

function seconds(iso: string | null): number {
  return iso === null ? 0 : Date.parse(iso) / 1000;
}

export function registerOpsMetrics(registry: Registry, src: OpsMetricSources): void {
  const expiry = certificateNotAfter(src.tlsCertPem).getTime() / 1000;
  new Gauge({
    name: 'palisade_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the certificate the HTTPS listeners serve (unix seconds). Renew before it is 14 days away.',
    registers: [registry],
    collect() {
      this.set(expiry);
    },
  });
  new Gauge({
    name: 'palisade_backup_last_success_timestamp_seconds',
    help: 'When the last backup succeeded (unix seconds; 0: none since the registry was created).',
    registers: [registry],
    collect() {
      this.set(seconds(src.backups().lastSuccessAt));
    },
  });
  new Gauge({
    name: 'palisade_backup_last_verification_timestamp_seconds',
    help: 'When a backup was last verified by a scratch restore (unix seconds; 0: never).',
    registers: [registry],
    collect() {
      this.set(seconds(src.backups().lastVerifiedAt));
    },
  });
  new Gauge({
    name: 'palisade_backup_last_verification_ok',
    help: 'Whether the most recent backup verification matched its manifest (1), did not (0); 1 before any verification.',
    registers: [registry],
    collect() {
      this.set(src.backups().lastVerifyOk === false ? 0 : 1);
    },
  });
  new Gauge({
    name: 'palisade_backup_last_failure_timestamp_seconds',
    help: 'When a backup last failed (unix seconds; 0: never).',
    registers: [registry],
    collect() {
      this.set(seconds(src.backups().lastFailureAt));
    },
  });
  new Gauge({
    name: 'palisade_clickhouse_up',
    help: '1 when ClickHouse answered a ping in the last second or so, 0 otherwise.',
    registers: [registry],
    async collect() {
      this.set((await src.clickhouseUp().catch(() => false)) ? 1 : 0);
    },
  });
  for (const [name, help, pick] of [
    ['palisade_data_dir_free_bytes', 'Bytes available to Palisade on the data directory filesystem (spool, embedded engine, backups).', (d: DiskSpace) => d.freeBytes],
    ['palisade_data_dir_size_bytes', 'Size of the data directory filesystem.', (d: DiskSpace) => d.totalBytes],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        try {
          this.set(pick(diskSpace(src.dataDir)));
        } catch {
          /* the directory vanished: leave the last value */
        }
      },
    });
  }
}
