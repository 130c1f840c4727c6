/**
 * The thresholds of the alert rules in ops/prometheus/alerts.yml, in the
 * rules' own units, for `palisade doctor` to judge by the same numbers.
 * src/ops/alert-thresholds.test.ts parses alerts.yml and fails when a rule and
 * this file disagree, so a threshold changes in both places or in neither.
 */

const DAY_S = 86_400;

export const ALERT_THRESHOLDS = {
  /** Seconds before the certificate's notAfter: a renewal needs lead time. */
  PalisadeTlsCertificateExpiring: 14 * DAY_S,
  /** Age in seconds of the oldest acknowledged event not yet in ClickHouse. */
  PalisadeSpoolBacklog: 300,
  /** Spool bytes over its cap; at 1 ingestion answers 503. */
  PalisadeSpoolNearlyFull: 0.8,
  /** Free share of the data directory's filesystem, below which it pages. */
  PalisadeDiskNearlyFull: 0.1,
  /** Active parts in one partition (ClickHouse delays inserts at 1000, refuses them at 3000). */
  PalisadeClickHouseTooManyParts: 300,
  /** Seconds a tenant has been refused by its per-key limit without a break. */
  PalisadeTenantRateLimitedSustained: 1_800,
  /** Seconds since the last successful backup: two of the default 24 h intervals. */
  PalisadeBackupTooOld: 2 * DAY_S,
  /** Seconds since the audit chain was last verified. */
  PalisadeAuditChainUnverified: 900,
} as const;

export type ThresholdAlert = keyof typeof ALERT_THRESHOLDS;

/**
 * Rules one scrape of /metrics can tell: each fires while its counter or
 * gauge is above 0 (the rule itself looks at an increase over a window; a
 * single scrape sees the total since start).
 */
export const SCRAPE_ALERTS = [
  { alert: 'PalisadeKeyExposedOnPlainHttp', metric: 'palisade_keys_exposed_total', detail: (n: number) => `${n} secret keys seen on plain HTTP since start` },
  { alert: 'PalisadeStorageGuardViolation', metric: 'palisade_storage_guard_violations_total', detail: (n: number) => `${n} rows refused by the storage guard since start` },
  { alert: 'PalisadeSecretsRefreshFailing', metric: 'palisade_secrets_consecutive_refresh_failures', detail: (n: number) => `${n} secrets refreshes failed in a row` },
  { alert: 'PalisadeIngestionRefusing', metric: 'palisade_requests_refused_total', detail: (n: number) => `${n} ingestion requests answered 503 since start` },
] as const;
