/**
 * The admin API's OpenAPI document (the admin listener, admin token): tenants
 * and keys, edge settings, audit, backups, migrations, retention, deletion
 * and support access. Request bodies are the zod schemas the routes validate
 * with.
 */
import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject } from 'zod-openapi';
import { TenantSettingsPatch } from '../../../schemas/tenant-settings.ts';
import { Query } from '../../query/schema.ts';
import { CreateKey, CreateTenant, UpdateTenant } from '../routes/admin.ts';
import { BackupBody } from '../routes/audit-backup-admin.ts';
import { RetentionBody, UserDeletionBody } from '../routes/tenant-data-admin.ts';
import { ALWAYS, errorResponses, json, jsonBody, NDJSON, ndjsonResponse, openApiOperation, statuses } from './common.ts';
import {
  AdminHealth,
  AuditVerified,
  BackupDetail,
  BackupList,
  BackupRecord,
  BackupRestored,
  BackupVerified,
  DoctorReport,
  KeyCreated,
  KeyInfo,
  MigrationPlan,
  RetentionChanged,
  RetentionInForce,
  SupportGrant,
  SupportQueryAnswer,
  Tenant,
  TenantCreated,
  TenantDeleted,
  TenantSettingsBody,
  TenantSettingsChanged,
  TenantStats,
  TrailPage,
  UserDeleted,
  UserDeletionPlanned,
} from './responses.ts';

/** Every /admin route: the admin token (401), and a crash or the database away. */
const ADMIN = [401, ...ALWAYS];
/** A body read: malformed (400), too large (413), not JSON (415). */
const BODY = [400, 413, 415];

const TenantPath = { path: z.object({ id: z.string().meta({ description: 'A tenant id, ten_ and 12 characters.' }) }) };

function op(o: ZodOpenApiOperationObject): ZodOpenApiOperationObject {
  return { security: [{ adminToken: [] }], ...o };
}

function tenantPaths(): ZodOpenApiPathsObject {
  return {
    '/admin/tenants': {
      post: op({
        operationId: 'createTenant',
        summary: 'Create a tenant and its three keys',
        tags: ['tenants'],
        requestBody: jsonBody(CreateTenant),
        responses: { ...json(TenantCreated, 'The tenant and its ingest, browser and query tokens (shown only here).', 201), ...errorResponses(statuses(BODY, ADMIN)) },
      }),
      get: op({ operationId: 'listTenants', summary: 'Every tenant', tags: ['tenants'], responses: { ...json(z.object({ tenants: z.array(Tenant) }), 'Tenants.'), ...errorResponses(ADMIN) } }),
    },
    '/admin/tenants/{id}': {
      get: op({ operationId: 'getTenant', summary: 'One tenant', tags: ['tenants'], requestParams: TenantPath, responses: { ...json(z.object({ tenant: Tenant }), 'The tenant.'), ...errorResponses(statuses([404], ADMIN)) } }),
      patch: op({
        operationId: 'updateTenant',
        summary: 'Rename a tenant or change its allowed origins',
        tags: ['tenants'],
        requestParams: TenantPath,
        requestBody: jsonBody(UpdateTenant),
        responses: { ...json(z.object({ tenant: Tenant }), 'The tenant as it is now.'), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
      delete: op({
        operationId: 'deleteTenant',
        summary: 'Delete a tenant and all its data (after a backup; refused if the backup fails)',
        tags: ['deletion'],
        requestParams: TenantPath,
        responses: { ...json(TenantDeleted, 'The deletion receipt.'), ...errorResponses(statuses([404], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/stats': {
      get: op({ operationId: 'tenantStats', summary: 'Events stored and bytes on disk', tags: ['tenants'], requestParams: TenantPath, responses: { ...json(TenantStats, 'Counts.'), ...errorResponses(statuses([404], ADMIN)) } }),
    },
    '/admin/tenants/{id}/keys': {
      get: op({ operationId: 'listKeys', summary: 'A tenant’s keys (never their secrets)', tags: ['keys'], requestParams: TenantPath, responses: { ...json(z.object({ keys: z.array(KeyInfo) }), 'Keys.'), ...errorResponses(statuses([404], ADMIN)) } }),
      post: op({
        operationId: 'createKey',
        summary: 'Issue a key',
        tags: ['keys'],
        requestParams: TenantPath,
        requestBody: jsonBody(CreateKey),
        responses: { ...json(KeyCreated, 'The key and its token (shown only here).', 201), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
    '/admin/keys/{keyId}': {
      delete: op({
        operationId: 'revokeKey',
        summary: 'Revoke a key (every edge within its key refresh interval)',
        tags: ['keys'],
        requestParams: { path: z.object({ keyId: z.string() }) },
        responses: { ...json(z.object({ key: KeyInfo }), 'The revoked key.'), ...errorResponses(statuses([404], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/settings': {
      get: op({ operationId: 'getTenantSettings', summary: 'Edge settings in force', tags: ['settings'], requestParams: TenantPath, responses: { ...json(TenantSettingsBody, 'Settings (defaults where none were set).'), ...errorResponses(statuses([404], ADMIN)) } }),
      patch: op({
        operationId: 'updateTenantSettings',
        summary: 'Change any subset of the edge settings',
        tags: ['settings'],
        requestParams: TenantPath,
        requestBody: jsonBody(TenantSettingsPatch),
        responses: { ...json(TenantSettingsChanged, 'Settings now, and the names of the fields that changed.'), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
  };
}

const TimeQuery = z.string().meta({ description: 'An ISO-8601 time or a duration back from now such as 7d.' });

function governancePaths(): ZodOpenApiPathsObject {
  return {
    '/admin/audit/verify': {
      post: op({ operationId: 'verifyAudit', summary: 'Walk every audit chain and check it against its anchors', tags: ['audit'], responses: { ...json(AuditVerified, 'What the walk found (`ok` false when a chain was tampered with).'), ...errorResponses(ADMIN) } }),
    },
    '/admin/tenants/{id}/audit': {
      get: op({
        operationId: 'readTenantAuditTrail',
        summary: 'A tenant’s audit trail (readable after the tenant is deleted)',
        tags: ['audit'],
        requestParams: {
          ...TenantPath,
          query: z.object({
            since: TimeQuery.optional(),
            until: TimeQuery.optional(),
            limit: z.string().optional().meta({ description: '1 to 5000 (default 100).' }),
            after: z.string().optional(),
            format: z.enum(['jsonl']).optional().meta({ description: '`jsonl`: the whole trail as JSON lines instead of a page.' }),
          }),
        },
        responses: {
          '200': {
            description: 'A page of entries, or with format=jsonl every entry as a JSON line.',
            content: { 'application/json': { schema: TrailPage }, [NDJSON]: { schema: { type: 'string' } } },
          },
          ...errorResponses(statuses([400, 404], ADMIN)),
        },
      }),
    },
    '/admin/backups': {
      get: op({
        operationId: 'listBackups',
        summary: 'Backups in the registry, and the backup status',
        tags: ['backups'],
        requestParams: { query: z.object({ tenant: z.string().optional() }) },
        responses: { ...json(BackupList, 'Backups.'), ...errorResponses(statuses([404], ADMIN)) },
      }),
      post: op({
        operationId: 'createBackup',
        summary: 'Take a backup now (full, or one tenant’s)',
        tags: ['backups'],
        requestBody: { required: false, content: { 'application/json': { schema: BackupBody } } },
        responses: { ...json(z.object({ backup: BackupRecord }), 'The backup.', 201), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
    '/admin/backups/{id}': {
      get: op({ operationId: 'getBackup', summary: 'One backup with its manifest', tags: ['backups'], requestParams: { path: z.object({ id: z.string() }) }, responses: { ...json(BackupDetail, 'The backup.'), ...errorResponses(statuses([404], ADMIN)) } }),
    },
    '/admin/backups/{id}/verify': {
      post: op({
        operationId: 'verifyBackup',
        summary: 'Restore into scratch tables and compare with the manifest',
        tags: ['backups'],
        requestParams: { path: z.object({ id: z.string() }) },
        responses: { ...json(BackupVerified, 'What the verification found (200 either way; `ok` says).'), ...errorResponses(statuses([404, 409], ADMIN)) },
      }),
    },
    '/admin/backups/{id}/restore': {
      post: op({
        operationId: 'restoreBackup',
        summary: 'Restore a backup (after a backup of what it overwrites)',
        tags: ['backups'],
        requestParams: { path: z.object({ id: z.string() }) },
        requestBody: { required: false, content: { 'application/json': { schema: BackupBody } } },
        responses: { ...json(BackupRestored, 'What was restored.'), ...errorResponses(statuses(BODY, [404, 409], ADMIN)) },
      }),
    },
    '/admin/migrations': {
      get: op({ operationId: 'migrationPlan', summary: 'Migrations applied and pending, and what a pending one would back up', tags: ['migrations'], responses: { ...json(MigrationPlan, 'The plan.'), ...errorResponses(ADMIN) } }),
    },
  };
}

function tenantDataPaths(): ZodOpenApiPathsObject {
  return {
    '/admin/tenants/{id}/retention': {
      get: op({ operationId: 'getRetention', summary: 'Days of events kept', tags: ['retention'], requestParams: TenantPath, responses: { ...json(RetentionInForce, 'Retention (0: kept forever).'), ...errorResponses(statuses([404], ADMIN)) } }),
      put: op({
        operationId: 'setRetention',
        summary: 'Set retention and enforce it now (after a backup)',
        tags: ['retention'],
        requestParams: TenantPath,
        requestBody: jsonBody(RetentionBody),
        responses: { ...json(RetentionChanged, 'The change and what it removed.'), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/users/{userId}': {
      delete: op({
        operationId: 'deleteUser',
        summary: 'Delete one end user’s events (GDPR), after a backup: the user id, ids the tenant’s ingest keys linked to it, and anonymous ids named in the body',
        tags: ['deletion'],
        requestParams: { path: z.object({ id: z.string(), userId: z.string() }) },
        requestBody: { required: false, content: { 'application/json': { schema: UserDeletionBody } } },
        responses: { ...json(UserDeleted, 'The deletion receipt: every id followed and the key that linked it.'), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/users/{userId}/deletion-plan': {
      post: op({
        operationId: 'planUserDeletion',
        summary: 'What deleteUser would delete now (ids followed, claims not followed, counts per id); deletes nothing',
        tags: ['deletion'],
        requestParams: { path: z.object({ id: z.string(), userId: z.string() }) },
        requestBody: { required: false, content: { 'application/json': { schema: UserDeletionBody } } },
        responses: { ...json(UserDeletionPlanned, 'The plan.'), ...errorResponses(statuses(BODY, [404], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/support-grants': {
      get: op({ operationId: 'listTenantSupportGrants', summary: 'The support grants a tenant issued', tags: ['support'], requestParams: TenantPath, responses: { ...json(z.object({ grants: z.array(SupportGrant) }), 'Grants.'), ...errorResponses(statuses([404], ADMIN)) } }),
    },
    '/admin/tenants/{id}/query': {
      post: op({
        operationId: 'supportQuery',
        summary: 'Query a tenant’s data under its live support grant (audited before any row leaves)',
        tags: ['support'],
        requestParams: TenantPath,
        requestBody: jsonBody(Query),
        responses: { ...json(SupportQueryAnswer, 'The grant used and the result.'), ...errorResponses(statuses(BODY, [403, 404, 422, 429], ADMIN)) },
      }),
    },
    '/admin/tenants/{id}/export': {
      get: op({
        operationId: 'exportTenant',
        summary: 'A tenant’s data as JSON lines, under its live support grant and its query caps, in bounded parts',
        tags: ['support'],
        requestParams: { ...TenantPath, query: z.object({ after: z.string().optional().meta({ description: 'The `next` of the previous part’s `end` line.' }) }) },
        responses: { ...ndjsonResponse('A header line, the events, and a final `end` line (`complete: false` and a `next` cursor when a bound ended the part).'), ...errorResponses(statuses([400, 403, 404, 422, 429], ADMIN)) },
      }),
    },
  };
}

export function adminPaths(): ZodOpenApiPathsObject {
  return {
    '/healthz': { get: { operationId: 'adminHealth', summary: 'Health of this edge: keys, spool, flusher, backups, audit', tags: ['meta'], security: [], responses: json(AdminHealth, 'Health.') } },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (no tenant data; open on the admin listener for scraping)',
        tags: ['meta'],
        security: [],
        responses: { '200': { description: 'Prometheus text exposition.', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/openapi.json': { get: openApiOperation },
    '/admin/doctor': { get: op({ operationId: 'doctor', summary: 'What `palisade doctor` reads', tags: ['meta'], responses: { ...json(DoctorReport, 'Findings.'), ...errorResponses(ADMIN) } }) },
    ...tenantPaths(),
    ...governancePaths(),
    ...tenantDataPaths(),
  };
}

export const ADMIN_SECURITY_SCHEMES = {
  adminToken: { type: 'http' as const, scheme: 'bearer', description: 'The admin token (secrets file or AWS Secrets Manager), on the admin listener only.' },
};
