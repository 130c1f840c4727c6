/**
 * Deletion on request. A user (GDPR): every event of that user id, of the
 * ids linked to it by events the tenant's servers sent with a secret ingest
 * key (an alias's previousId; an anonymous id sent together with the user
 * id), and of anonymous ids the request names, while those anonymous events
 * belong to no other user; and the same rows in dead_letters. Links a
 * publishable browser key asserted are claims, listed and never followed
 * (deletion-identity.ts, docs/deletion.md); `plan` shows it all, with counts
 * per id, before anything is deleted. A tenant: its keys revoked
 * at once, its partitions dropped, its rows removed from every tenant table
 * except the audit trail and the deletion receipts.
 *
 * Each first takes a backup of what it touches and refuses if that fails;
 * each leaves a receipt, which a restore from an older backup re-applies, so
 * data deleted on request never comes back. Deletions use mutations with
 * mutations_sync = 2: when the call returns, the rows are gone from queries
 * and from the parts on disk (a lightweight DELETE would only hide them).
 * On a cluster every mutation and partition drop goes through cluster-sql.ts
 * (each shard's `_local` table ON CLUSTER; replicated tables as written).
 */
import { createHash } from 'node:crypto';
import { toClickHouseTime } from '../../schemas/event-row.ts';
import { randomBase62 } from '../auth/base62.ts';
import type { AuditInput } from '../audit/audit-log.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { alterTable } from '../storage/cluster-sql.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';
import { catalogue, LEDGER_TABLES, partitionedByTenant, quoteIdent, quotePartitionId, tenantColumn, tenantPartitions } from './backup-plan.ts';
import { BackupFailed, type BackupService, type Ctx } from './backup.ts';
import { countsPerId, resolveIdentity, type IdCount, type Identity, type IdentityLink } from './deletion-identity.ts';

export interface AuditSink {
  record(input: AuditInput): void;
  recordDurable(input: AuditInput): Promise<unknown>;
}

/** What a user deletion would take, before it does. */
export interface UserDeletionPlan {
  tenantId: string;
  events: number;
  deadLetters: number;
  /** Every id the deletion follows, how it was linked and the secret key that linked it. */
  followed: IdentityLink[];
  /** Links only a publishable key asserted: claims, not followed (name an anonymous id in the request to include it). */
  notFollowed: IdentityLink[];
  /** Events per id followed. */
  perId: IdCount[];
}

export interface UserDeletionReceipt {
  receiptId: string;
  tenantId: string;
  createdAt: string;
  eventsDeleted: number;
  deadLettersDeleted: number;
  linkedIds: { userIds: number; anonymousIds: number };
  backupId: string | null;
  followed: IdentityLink[];
  notFollowed: IdentityLink[];
  perId: IdCount[];
}

export interface UserDeletionRequest {
  /** Anonymous ids the data subject showed to be theirs (their device's id): followed like a secret-key link. */
  anonymousIds?: readonly string[];
}

export interface TenantDeletionReceipt {
  receiptId: string;
  tenantId: string;
  createdAt: string;
  eventsDeleted: number;
  partitionsDropped: number;
  keysRevoked: number;
  backupId: string;
}

const MAX_USER_ID = 256;
const MAX_NAMED_IDS = 100;
const DRAIN_MS = 10_000;
const MUTATION = { mutations_sync: 2 };
const MUTATION_TIMEOUT_MS = 30 * 60_000;

const EVENTS_PREDICATE = `tenant_id = {t:String} AND (user_id IN {u:Array(String)} OR previous_id IN {u:Array(String)}
  OR (user_id = '' AND anonymous_id IN {a:Array(String)}))`;
const DEAD_LETTERS_PREDICATE = `tenant_id = {t:String} AND (JSONExtractString(row, 'user_id') IN {u:Array(String)}
  OR JSONExtractString(row, 'previous_id') IN {u:Array(String)}
  OR (JSONExtractString(row, 'user_id') = '' AND JSONExtractString(row, 'anonymous_id') IN {a:Array(String)}))`;

/** A stable, non-reversible handle for the user in the audit trail: the trail never holds the user id itself. */
export function subjectHash(tenantId: string, userId: string): string {
  return createHash('sha256').update(`${tenantId}\n${userId}`).digest('hex').slice(0, 16);
}

export interface DeletionOptions {
  warehouse: Warehouse;
  backups: BackupService;
  control: ControlPlane;
  logger: Logger;
  audit: AuditSink;
  /** Waits (bounded) until spooled events appended before now have reached ClickHouse. */
  drain: (deadlineMs: number) => Promise<boolean>;
  refreshKeys: () => Promise<void>;
}

export class DeletionService {
  constructor(private readonly o: DeletionOptions) {}

  private async count(sql: string, params: Record<string, unknown>): Promise<number> {
    const rows = await this.o.warehouse.query<{ n: string }>(sql, { params, timeoutMs: 120_000 });
    return Number(rows[0]?.n ?? 0);
  }

  /** The subject's identity: the user id, named anonymous ids, and what the tenant's secret-key events link to them. */
  async identity(tenantId: string, userId: string, req: UserDeletionRequest = {}) {
    const trustedKeys = (await this.o.control.listKeys(tenantId)).filter((k) => k.scope === 'ingest').map((k) => k.id);
    return await resolveIdentity(this.o.warehouse, { tenantId, userId, namedAnonymousIds: req.anonymousIds ?? [], trustedKeys });
  }

  private checkRequest(userId: string, req: UserDeletionRequest): void {
    if (userId.length === 0 || userId.length > MAX_USER_ID || !userId.isWellFormed()) throw new AppError(ErrorCode.BAD_REQUEST, `user id: 1-${MAX_USER_ID} characters of well-formed Unicode`);
    const named = req.anonymousIds ?? [];
    if (named.length > MAX_NAMED_IDS || named.some((a) => a.length === 0 || a.length > MAX_USER_ID || !a.isWellFormed())) {
      throw new AppError(ErrorCode.BAD_REQUEST, `anonymousIds: at most ${MAX_NAMED_IDS}, each 1-${MAX_USER_ID} characters of well-formed Unicode`);
    }
  }

  /**
   * What `deleteUser` would delete now, changing nothing: every id followed
   * (and the key that linked it), every claim not followed, and counts per id.
   */
  async planUser(tenantId: string, userId: string, ctx: Ctx, req: UserDeletionRequest = {}): Promise<UserDeletionPlan> {
    this.checkRequest(userId, req);
    await this.o.control.getTenant(tenantId);
    await this.o.drain(DRAIN_MS);
    const ids = await this.identity(tenantId, userId, req);
    const params = { t: tenantId, u: ids.userIds, a: ids.anonymousIds };
    const plan: UserDeletionPlan = {
      tenantId,
      events: await this.count(`SELECT count() AS n FROM events WHERE ${EVENTS_PREDICATE}`, params),
      deadLetters: await this.count(`SELECT count() AS n FROM dead_letters WHERE ${DEAD_LETTERS_PREDICATE}`, params),
      followed: ids.followed,
      notFollowed: ids.notFollowed,
      perId: await countsPerId(this.o.warehouse, tenantId, ids),
    };
    await this.o.audit.recordDurable({
      ...ctx,
      tenantId,
      action: 'user.delete.plan',
      target: subjectHash(tenantId, userId),
      outcome: 'ok',
      details: { subject: subjectHash(tenantId, userId), events: plan.events, deadLetters: plan.deadLetters, idsFollowed: plan.followed.length, claimsNotFollowed: plan.notFollowed.length },
    });
    return plan;
  }

  private async eraseUser(tenantId: string, ids: Identity): Promise<{ events: number; deadLetters: number }> {
    const params = { t: tenantId, u: ids.userIds, a: ids.anonymousIds };
    const wh = this.o.warehouse;
    const events = await this.count(`SELECT count() AS n FROM events WHERE ${EVENTS_PREDICATE}`, params);
    const deadLetters = await this.count(`SELECT count() AS n FROM dead_letters WHERE ${DEAD_LETTERS_PREDICATE}`, params);
    if (events > 0) await wh.command(alterTable(wh, 'events', `DELETE WHERE ${EVENTS_PREDICATE}`), { params, settings: MUTATION, timeoutMs: MUTATION_TIMEOUT_MS });
    if (deadLetters > 0) {
      await wh.command(alterTable(wh, 'dead_letters', `DELETE WHERE ${DEAD_LETTERS_PREDICATE}`), { params, settings: MUTATION, timeoutMs: MUTATION_TIMEOUT_MS });
    }
    return { events, deadLetters };
  }

  private async refuse(ctx: Ctx, base: Omit<AuditInput, 'actor' | 'outcome'>, err: unknown): Promise<never> {
    const backupId = err instanceof BackupFailed ? err.backupId : null;
    await this.o.audit.recordDurable({ ...ctx, ...base, outcome: 'refused', details: { ...base.details, backupId, error: (err as Error).message.slice(0, 200) } });
    throw err;
  }

  async deleteUser(tenantId: string, userId: string, ctx: Ctx, req: UserDeletionRequest = {}): Promise<UserDeletionReceipt> {
    this.checkRequest(userId, req);
    await this.o.control.getTenant(tenantId);
    await this.o.drain(DRAIN_MS);
    const ids = await this.identity(tenantId, userId, req);
    const receiptId = `del_${randomBase62(16)}`;
    const subject = subjectHash(tenantId, userId);
    const base = { tenantId, action: 'user.delete', target: receiptId, details: { subject } };
    let backupId: string | null = null;
    const params = { t: tenantId, u: ids.userIds, a: ids.anonymousIds };
    const present = (await this.count(`SELECT count() AS n FROM events WHERE ${EVENTS_PREDICATE}`, params)) +
      (await this.count(`SELECT count() AS n FROM dead_letters WHERE ${DEAD_LETTERS_PREDICATE}`, params));
    if (present > 0) {
      // What the deletion touches: the event partitions holding the user's rows, and the dead letters.
      const parts = await this.o.warehouse.query<{ p: string }>(`SELECT DISTINCT _partition_id AS p FROM events WHERE ${EVENTS_PREDICATE}`, { params, timeoutMs: 120_000 });
      try {
        backupId = (await this.o.backups.create({ kind: 'tenant', tenantId, partitions: parts.map((x) => x.p) }, 'pre-delete-user', ctx)).id;
      } catch (err) {
        return await this.refuse(ctx, base, err);
      }
    }
    // Counted before the rows go: the receipt says what each id lost.
    const perId = await countsPerId(this.o.warehouse, tenantId, ids);
    const erased = await this.eraseUser(tenantId, ids);
    const createdAt = new Date();
    await this.writeReceipt({ id: receiptId, kind: 'user', tenantId, ids, createdAt, backupId: backupId ?? '', rows: erased.events + erased.deadLetters, actor: ctx.actor });
    await this.o.audit.recordDurable({
      ...ctx,
      ...base,
      outcome: 'ok',
      details: {
        subject,
        backupId,
        eventsDeleted: erased.events,
        deadLettersDeleted: erased.deadLetters,
        linkedUserIds: ids.userIds.length - 1,
        linkedAnonymousIds: ids.anonymousIds.length,
        // Key ids, never the user ids: the trail holds no user id.
        linkKeys: [...new Set(ids.followed.flatMap((l) => (l.keyId ? [l.keyId] : [])))],
        claimsNotFollowed: ids.notFollowed.length,
      },
    });
    return {
      receiptId,
      tenantId,
      createdAt: createdAt.toISOString(),
      eventsDeleted: erased.events,
      deadLettersDeleted: erased.deadLetters,
      linkedIds: { userIds: ids.userIds.length, anonymousIds: ids.anonymousIds.length },
      backupId,
      followed: ids.followed,
      notFollowed: ids.notFollowed,
      perId,
    };
  }

  /** Drops the tenant's partitions and its rows in every other tenant table; idempotent. */
  private async eraseTenant(tenantId: string): Promise<{ partitions: number; rows: number }> {
    const wh = this.o.warehouse;
    let partitions = 0;
    let rows = 0;
    for (const t of (await catalogue(wh)).values()) {
      const col = tenantColumn(t);
      if (!col || LEDGER_TABLES.has(t.name)) continue;
      if (partitionedByTenant(t)) {
        for (const id of await tenantPartitions(wh, t.name, tenantId)) {
          await wh.command(alterTable(wh, t.name, `DROP PARTITION ID ${quotePartitionId(id)}`));
          partitions++;
        }
        continue;
      }
      const where = `${quoteIdent(col)} = {t:String}`;
      const n = await this.count(`SELECT count() AS n FROM ${quoteIdent(t.name)} WHERE ${where}`, { t: tenantId });
      if (n === 0) continue;
      await wh.command(alterTable(wh, t.name, `DELETE WHERE ${where}`), { params: { t: tenantId }, settings: MUTATION, timeoutMs: MUTATION_TIMEOUT_MS });
      rows += n;
    }
    return { partitions, rows };
  }

  async deleteTenant(tenantId: string, ctx: Ctx): Promise<TenantDeletionReceipt> {
    const tenant = await this.o.control.getTenant(tenantId);
    const receiptId = `del_${randomBase62(16)}`;
    const base = { tenantId, action: 'tenant.delete', target: receiptId, details: { name: tenant.name } };
    let backupId: string;
    try {
      backupId = (await this.o.backups.create({ kind: 'tenant', tenantId }, 'pre-delete-tenant', ctx)).id;
    } catch (err) {
      return await this.refuse(ctx, base, err);
    }
    // Keys first: this edge refuses them now, every other edge within its key refresh.
    const keys = (await this.o.control.listKeys(tenantId)).filter((k) => !k.revokedAt);
    for (const k of keys) await this.o.control.revokeKey(k.id);
    await this.o.control.markDeleted(tenantId);
    await this.o.refreshKeys();
    // Events accepted before the revocation may still be in the spool.
    await this.o.drain(DRAIN_MS);
    const events = await this.count('SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: tenantId });
    const erased = await this.eraseTenant(tenantId);
    const createdAt = new Date();
    await this.writeReceipt({ id: receiptId, kind: 'tenant', tenantId, ids: { userIds: [], anonymousIds: [] }, createdAt, backupId, rows: events + erased.rows, actor: ctx.actor });
    await this.o.refreshKeys();
    await this.o.audit.recordDurable({
      ...ctx,
      ...base,
      outcome: 'ok',
      details: { ...base.details, backupId, eventsDeleted: events, partitionsDropped: erased.partitions, otherRowsDeleted: erased.rows, keysRevoked: keys.length },
    });
    return { receiptId, tenantId, createdAt: createdAt.toISOString(), eventsDeleted: events, partitionsDropped: erased.partitions, keysRevoked: keys.length, backupId };
  }

  private async writeReceipt(r: { id: string; kind: 'user' | 'tenant'; tenantId: string; ids: Identity; createdAt: Date; backupId: string; rows: number; actor: string }): Promise<void> {
    await this.o.warehouse.insertJson(
      'deletion_receipts',
      Buffer.from(
        jsonRow({
          id: r.id,
          kind: r.kind,
          tenant_id: r.tenantId,
          user_ids: r.ids.userIds,
          anonymous_ids: r.ids.anonymousIds,
          created_at: toClickHouseTime(r.createdAt),
          backup_id: r.backupId,
          rows_deleted: r.rows,
          actor: r.actor,
        }),
      ),
    );
  }

  /**
   * Re-applies the deletions recorded since `since` (for one tenant or all):
   * after a restore from an older backup, and periodically for events of a
   * deleted user or tenant that were still in a spool when it was deleted.
   * Returns how many receipts found something to delete again.
   */
  async reapply(o: { since: Date; tenantId: string | null }): Promise<number> {
    const receipts = await this.o.warehouse.query<{ id: string; kind: string; tenant_id: string; user_ids: string[]; anonymous_ids: string[] }>(
      `SELECT id, kind, tenant_id, user_ids, anonymous_ids FROM deletion_receipts
       WHERE created_at >= {since:DateTime64(3)} AND ({t:String} = '' OR tenant_id = {t:String}) ORDER BY created_at`,
      { params: { since: toClickHouseTime(o.since), t: o.tenantId ?? '' } },
    );
    let applied = 0;
    for (const r of receipts) {
      let found = 0;
      if (r.kind === 'tenant') {
        const e = await this.eraseTenant(r.tenant_id);
        found = e.partitions + e.rows;
      } else if (r.user_ids.length > 0) {
        const e = await this.eraseUser(r.tenant_id, { userIds: r.user_ids, anonymousIds: r.anonymous_ids });
        found = e.events + e.deadLetters;
      }
      if (found === 0) continue;
      applied++;
      this.o.logger.info({ receiptId: r.id, tenantId: r.tenant_id, kind: r.kind }, 'deletion re-applied');
    }
    return applied;
  }

  /**
   * Once no backup can hold a deleted user's rows any more (the backup
   * retention has passed), the ids in the receipt are no longer needed:
   * the receipt keeps its id, tenant, time and counts.
   */
  async forgetIds(olderThanDays: number): Promise<number> {
    const params = { d: olderThanDays };
    const n = await this.count(
      'SELECT count() AS n FROM deletion_receipts WHERE created_at < now64(3) - toIntervalDay({d:UInt32}) AND (notEmpty(user_ids) OR notEmpty(anonymous_ids))',
      params,
    );
    if (n > 0) {
      await this.o.warehouse.command(
        alterTable(
          this.o.warehouse,
          'deletion_receipts',
          'UPDATE user_ids = [], anonymous_ids = [] WHERE created_at < now64(3) - toIntervalDay({d:UInt32}) AND (notEmpty(user_ids) OR notEmpty(anonymous_ids))',
        ),
        { params, settings: MUTATION, timeoutMs: MUTATION_TIMEOUT_MS },
      );
    }
    return n;
  }
}
