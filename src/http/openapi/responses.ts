/**
 * The bodies the routes answer with, as zod schemas, for the OpenAPI
 * documents only: the routes build these objects in plain TypeScript, and
 * the contract test (test/openapi-contract.int.test.ts) checks real responses
 * against what these schemas render to, so a field added or renamed in a
 * handler without a change here fails that test.
 *
 * Objects are closed (zod renders `additionalProperties: false` for output)
 * except where a body reports internal state that grows with the service
 * (health, doctor, status blocks): those are `looseObject` with their
 * top-level fields named and required.
 */
import { z } from 'zod';
import { TenantSettingsSchema } from '../../../schemas/tenant-settings.ts';
import { SCOPES } from '../../auth/tokens.ts';
import { TENANT_ID } from '../../control/tenant-id.ts';
import { RejectionCode } from '../../ingest/result.ts';

const Time = z.string().meta({ description: 'ISO-8601 date-time' });
const TenantId = z.string().regex(TENANT_ID);

// --- public API --------------------------------------------------------------

export const IngestAccepted = z
  .object({
    success: z.literal(true),
    accepted: z.number().int().min(0).optional().meta({ description: 'Present when some events of a batch were rejected.' }),
    rejected: z
      .array(
        z.object({
          index: z.number().int().min(0),
          code: z.enum(Object.values(RejectionCode) as [string, ...string[]]),
          message: z.string(),
          messageId: z.string().optional(),
        }),
      )
      .optional()
      .meta({ description: 'The events of a batch that were rejected, each alone, with its index and reason.' }),
  })
  .meta({ id: 'IngestAccepted' });

const Series = z.object({ key: z.string().nullable(), total: z.number(), values: z.array(z.number()) });
const TrendResult = z.object({
  kind: z.literal('trend'),
  measure: z.enum(['events', 'users']),
  interval: z.enum(['hour', 'day', 'week', 'month']),
  timezone: z.string(),
  from: Time,
  to: Time,
  buckets: z.array(z.string()),
  total: z.number(),
  series: z.array(Series),
  other: z.object({ total: z.number(), values: z.array(z.number()) }).nullable(),
});
const TopResult = z.object({
  kind: z.literal('top'),
  measure: z.enum(['events', 'users']),
  total: z.number(),
  rows: z.array(z.object({ value: z.string(), count: z.number(), share: z.number() })),
});
const FunnelResult = z.object({
  kind: z.literal('funnel'),
  windowSeconds: z.number().int(),
  order: z.enum(['any', 'strict']),
  steps: z.array(z.object({ step: z.number().int(), count: z.number(), conversion: z.number(), stepConversion: z.number(), dropOff: z.number() })),
});
const JsonObject = z.record(z.string(), z.unknown());
const EventsResult = z.object({
  kind: z.literal('events'),
  events: z.array(
    z.object({
      messageId: z.string(),
      type: z.string(),
      event: z.string(),
      userId: z.string(),
      anonymousId: z.string(),
      timestamp: Time,
      receivedAt: Time,
      properties: JsonObject,
      context: JsonObject,
      traits: JsonObject,
    }),
  ),
  nextCursor: z.string().nullable().meta({ description: 'Pass back as `cursor` for the next page; null on the last page.' }),
});
const WarningsResult = z.object({
  kind: z.literal('warnings'),
  items: z.array(
    z.object({
      source: z.string(),
      at: Time,
      messageId: z.string(),
      code: z.string(),
      message: z.string(),
      requestId: z.string().optional(),
      keyId: z.string().optional(),
      index: z.number().int().optional(),
      row: z.string().optional(),
    }),
  ),
});
const Named = z.array(z.object({ name: z.string(), count: z.number() }));
export const SchemaResult = z.object({ kind: z.literal('schema'), events: Named, properties: Named }).meta({ id: 'SchemaResult' });

export const QueryResult = z
  .discriminatedUnion('kind', [TrendResult, TopResult, FunnelResult, EventsResult, WarningsResult, SchemaResult])
  .meta({ id: 'QueryResult' });

export const AuditEntry = z
  .object({
    nodeId: z.string(),
    seq: z.number().int(),
    at: Time,
    actor: z.string(),
    tenantId: z.string(),
    action: z.string(),
    target: z.string(),
    outcome: z.string(),
    clientIp: z.string(),
    requestId: z.string(),
    details: JsonObject,
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });

export const TrailPage = z
  .object({
    entries: z.array(AuditEntry),
    next: z.string().optional().meta({ description: 'Pass back as `after` for the next page; absent on the last page.' }),
  })
  .meta({ id: 'AuditTrailPage' });

export const SupportGrant = z
  .object({
    id: z.string(),
    tenantId: TenantId,
    createdBy: z.string(),
    reason: z.string(),
    createdAt: Time,
    expiresAt: Time,
    revokedAt: Time.nullable(),
    revokedBy: z.string().nullable(),
    live: z.boolean(),
  })
  .meta({ id: 'SupportGrant' });

export const HealthOk = z.object({ status: z.literal('ok') });
export const Readiness = z.object({ status: z.enum(['ready', 'degraded']), checks: JsonObject });

// --- admin API ---------------------------------------------------------------

export const Tenant = z
  .object({ id: TenantId, name: z.string(), allowedOrigins: z.array(z.string()), createdAt: Time, updatedAt: Time })
  .meta({ id: 'Tenant' });

export const KeyInfo = z
  .object({ id: z.string(), tenantId: TenantId, scope: z.enum(SCOPES as [string, ...string[]]), createdAt: Time, revokedAt: Time.nullable() })
  .meta({ id: 'KeyInfo' });

export const TenantCreated = z.object({
  tenant: Tenant,
  keys: z.object({ ingest: z.string(), browser: z.string(), query: z.string() }).meta({ description: 'Shown once, in this response only.' }),
});
export const KeyCreated = z.object({ key: KeyInfo, token: z.string().meta({ description: 'Shown once, in this response only.' }) });
export const TenantStats = z.object({ events: z.number().int(), lastEventAt: Time.nullable(), bytesOnDisk: z.number() });

export const TenantSettingsBody = z.object({ tenantId: TenantId, settings: TenantSettingsSchema });
export const TenantSettingsChanged = TenantSettingsBody.extend({ changed: z.array(z.string()) });

const BackupStatus = z.looseObject({
  lastSuccessAt: Time.nullable(),
  lastSuccessId: z.string().nullable(),
  lastFailureAt: Time.nullable(),
  lastError: z.string().nullable(),
});

export const BackupRecord = z
  .object({
    id: z.string(),
    createdAt: Time,
    finishedAt: Time.nullable(),
    scope: z.enum(['full', 'tenant', 'tables']),
    tenantId: z.string().nullable(),
    reason: z.enum(['scheduled', 'manual', 'pre-migrate', 'pre-delete-tenant', 'pre-delete-user', 'pre-retention', 'pre-restore']),
    destination: z.string(),
    tables: z.array(z.string()),
    status: z.enum(['running', 'ok', 'failed', 'expired']),
    error: z.string().nullable(),
    bytes: z.number(),
    expiresAt: Time,
    verifiedAt: Time.nullable(),
    verifyOk: z.boolean().nullable(),
    actor: z.string(),
  })
  .meta({ id: 'BackupRecord' });

export const BackupList = z.object({ backups: z.array(BackupRecord), status: BackupStatus });
export const BackupDetail = z.object({
  backup: BackupRecord.extend({
    manifest: z.record(z.string(), z.array(z.looseObject({}))).meta({ description: 'Per table, a checksum per partition.' }),
  }),
});

export const BackupVerified = z.object({
  backupId: z.string(),
  ok: z.boolean(),
  partitionsChecked: z.number().int(),
  partitionsChangedDuringBackup: z.number().int(),
  mismatches: z.array(z.object({ table: z.string(), partition: z.string(), problem: z.string() })),
  error: z.string().optional(),
});

export const BackupRestored = z.object({
  backupId: z.string(),
  preRestoreBackupId: z.string(),
  tenantId: z.string().nullable(),
  tables: z.array(z.object({ table: z.string(), how: z.string(), partitions: z.number().int() })),
  skipped: z.array(z.string()),
  deletionsReapplied: z.number().int(),
});

const ChainProblem = z.object({
  nodeId: z.string(),
  kind: z.enum(['altered', 'removed', 'reordered', 'inserted', 'truncated']),
  seq: z.number().int(),
  message: z.string(),
  entry: z.object({ seq: z.number().int(), at: Time, action: z.string(), actor: z.string(), tenantId: z.string() }).optional(),
});
export const AuditVerified = z.object({
  ok: z.boolean(),
  entries: z.number().int(),
  chains: z.array(
    z.object({
      nodeId: z.string(),
      entries: z.number().int(),
      head: z.object({ seq: z.number().int(), hash: z.string() }).nullable(),
      problems: z.array(ChainProblem),
      problemCount: z.number().int(),
    }),
  ),
  firstProblem: ChainProblem.optional(),
});

const MigrationName = z.object({ version: z.number().int(), name: z.string() });
export const MigrationPlan = z.object({
  applied: z.array(MigrationName),
  pending: z.array(MigrationName.extend({ statements: z.array(z.string()), touches: z.array(z.string()) })),
  backup: z.object({ tables: z.array(z.string()), full: z.boolean(), nothingToBackUp: z.boolean() }),
});

export const RetentionInForce = z.object({ tenantId: TenantId, retentionDays: z.number().int().min(0) });
export const RetentionChanged = z.object({
  tenantId: TenantId,
  previousDays: z.number().int(),
  retentionDays: z.number().int(),
  backupId: z.string().nullable(),
  enforced: z.object({ partitionsDropped: z.number().int(), rowsDeleted: z.number().int(), deadLettersDeleted: z.number().int() }),
});

const IdentityLink = z
  .object({
    id: z.string(),
    kind: z.enum(['userId', 'anonymousId']),
    how: z.enum(['requested', 'named', 'alias', 'seen_with']),
    from: z.string().optional().meta({ description: 'The user id the link starts from (alias, seen_with).' }),
    keyId: z.string().optional().meta({ description: 'The key whose event made the link: an ingest key when followed, a browser key when not.' }),
  })
  .meta({ id: 'IdentityLink', description: 'An id a user deletion reached, and how (docs/deletion.md).' });
const IdCount = z.object({ id: z.string(), kind: z.enum(['userId', 'anonymousId']), events: z.number().int() });
const Links = {
  followed: z.array(IdentityLink).meta({ description: 'Every id followed, with the secret ingest key that linked it.' }),
  notFollowed: z.array(IdentityLink).meta({ description: 'Links only a publishable key asserted: claims, never followed.' }),
  perId: z.array(IdCount).meta({ description: 'Events per id followed.' }),
};
export const UserDeletionPlanned = z.object({
  plan: z.object({ tenantId: TenantId, events: z.number().int(), deadLetters: z.number().int(), ...Links }),
});
export const UserDeleted = z.object({
  receipt: z.object({
    receiptId: z.string(),
    tenantId: TenantId,
    createdAt: Time,
    eventsDeleted: z.number().int(),
    deadLettersDeleted: z.number().int(),
    linkedIds: z.object({ userIds: z.number().int(), anonymousIds: z.number().int() }),
    backupId: z.string().nullable(),
    ...Links,
  }),
});
export const TenantDeleted = z.object({
  receipt: z.object({
    receiptId: z.string(),
    tenantId: TenantId,
    createdAt: Time,
    eventsDeleted: z.number().int(),
    partitionsDropped: z.number().int(),
    keysRevoked: z.number().int(),
    backupId: z.string(),
  }),
});

export const SupportQueryAnswer = z.object({
  grant: z.object({ id: z.string(), expiresAt: Time }),
  result: QueryResult,
});

/** Internal state for operators: the top-level blocks are named; their contents follow the service. */
export const AdminHealth = z.looseObject({ status: z.literal('ok'), keys: z.number().int(), spool: JsonObject, flusher: JsonObject });
export const DoctorReport = z.looseObject({
  now: Time,
  uptimeSeconds: z.number(),
  clickhouse: z.looseObject({ ok: z.boolean(), kind: z.string() }),
  spool: JsonObject,
  flusher: JsonObject,
  backups: JsonObject,
  audit: JsonObject,
  tls: z.looseObject({ ok: z.boolean() }),
});
