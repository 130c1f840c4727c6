/**
 * What the governance routes (audit, backups, retention, deletion, support
 * access) share: their dependencies, body parsing, and the JSON-lines response.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import type { TrailPage, VerifyReport } from '../../audit/trail.ts';
import type { ControlPlane } from '../../control/control-plane.ts';
import type { SupportGrants } from '../../control/support-grants.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { TENANT_ID } from '../../control/tenant-id.ts';
import type { BackupService } from '../../ops/backup.ts';
import type { DeletionService } from '../../ops/deletion.ts';
import type { MigrationPlan } from '../../ops/migrate.ts';
import type { RetentionService } from '../../ops/retention.ts';
import type { Warehouse } from '../../storage/warehouse.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

export interface SupportQueryOutcome {
  kind: string;
  rows: number;
  result: unknown;
}

/** The audit trail as the routes read it (src/audit/audit-trail.ts). */
export interface AuditTrailReader {
  read(tenantId: string, o: { since?: Date; until?: Date; limit: number; after?: string }): Promise<TrailPage>;
  /** The tenant reading its own trail: under its query caps and fair turn (429/422 as the query API). */
  readAsTenant(tenantId: string, o: { since?: Date; until?: Date; limit: number; after?: string }): Promise<TrailPage>;
  /** The whole chain checked against this node's anchors. */
  verify(): Promise<VerifyReport>;
}

/** A tenant's data as JSON lines (src/ops/tenant-export.ts). */
export interface TenantExporter {
  /**
   * One bounded part of the export under the tenant's query caps, its first
   * page already read (so a 429/422 is thrown here, as a status); `after`:
   * the previous part's `next` cursor (src/ops/tenant-export.ts).
   */
  open(tenantId: string, after: string | undefined): Promise<AsyncGenerator<string>>;
}

export interface GovernanceDeps {
  adminToken: string;
  /** `admin:adm_<digest prefix>`: who the admin token is in the audit trail. */
  adminActor: string;
  audit: AuditLog;
  /** No route reads these two any more (they use `trail`, `exports`, `migrationPlan`); kept optional until the composition root stops passing them. */
  anchorDir?: string;
  warehouse?: Warehouse;
  trail: AuditTrailReader;
  exports: TenantExporter;
  /** What `palisade migrate --plan` shows, read while this server owns the data directory. */
  migrationPlan: () => Promise<MigrationPlan>;
  control: ControlPlane;
  backups: BackupService;
  retention: RetentionService;
  deletions: DeletionService;
  grants: SupportGrants;
  auth: Authenticator;
  /** The structured query of /v1/query, run for one tenant on an operator's behalf. */
  supportQuery: (tenantId: string, body: unknown) => Promise<SupportQueryOutcome>;
  refreshKeys: () => Promise<void>;
}

export function tenantIdParam(raw: string): string {
  if (!TENANT_ID.test(raw)) throw new AppError(ErrorCode.NOT_FOUND, 'no such tenant');
  return raw;
}

export async function parseBody<T extends z.ZodTypeAny>(c: Context<Env>, schema: T, optional = false): Promise<z.infer<T>> {
  let body: unknown = {};
  if (!optional || requestHeader(c, 'content-type') !== undefined) {
    assertJsonContentType(c.req.raw, false);
    body = await readJsonBody(c.req.raw, { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 }, c.env?.incoming);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(ErrorCode.INVALID_BODY, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function limitParam(raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new AppError(ErrorCode.BAD_REQUEST, `limit: 1 to ${max}`);
  return n;
}

/** Streams JSON lines; a download cut short lacks its final `end` line. */
export function ndjson(c: Context<Env>, lines: AsyncGenerator<string>, filename?: string): Response {
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) controller.close();
      else controller.enqueue(enc.encode(next.value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
  c.header('Cache-Control', 'no-store');
  if (filename) c.header('Content-Disposition', `attachment; filename="${filename}"`);
  return c.body(stream, 200);
}

