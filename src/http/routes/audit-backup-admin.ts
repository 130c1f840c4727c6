/**
 * Admin API for the audit log, backups and migrations (admin listener,
 * admin token). Every call that reads a tenant's trail or touches a backup
 * is itself audited.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { parseSince } from '../../audit/trail.ts';
import { TENANT_ID } from '../../control/tenant-id.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { ctxOf } from '../audit-hooks.ts';
import { adminToken } from '../middleware/admin-token.ts';
import { limitParam, ndjson, parseBody, tenantIdParam, type GovernanceDeps } from './governance-common.ts';
import type { Env } from '../types.ts';

const TENANT = z.string().regex(TENANT_ID, 'must be a tenant id (ten_…)');
export const BackupBody = z.object({ tenant: TENANT.optional() }).strict();

function time(raw: string | undefined, name: string): Date | undefined {
  const d = parseSince(raw);
  if (raw !== undefined && raw !== '' && !d) throw new AppError(ErrorCode.BAD_REQUEST, `${name}: an ISO-8601 time or a duration back from now such as 7d`);
  return d;
}

export function auditBackupAdminRoutes(d: GovernanceDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('/admin/*', adminToken(d.adminToken));

  app.post('/admin/audit/verify', async (c) => {
    const report = await d.trail.verify();
    c.set('audited', true);
    d.audit.record({ ...ctxOf(c, d.adminActor), action: 'audit.verify', outcome: report.ok ? 'ok' : 'failed', details: { entries: report.entries, firstProblemSeq: report.firstProblem?.seq ?? null, firstProblemKind: report.firstProblem?.kind ?? null } });
    return c.json(report);
  });

  // A tenant's own trail: the tenant id in the path is the only filter, and
  // it is always applied. Readable after the tenant is deleted: the trail outlives it.
  app.get('/admin/tenants/:id/audit', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    const since = time(c.req.query('since'), 'since');
    const until = time(c.req.query('until'), 'until');
    d.audit.record({ ...ctxOf(c, d.adminActor), tenantId, action: 'audit.read', target: tenantId, outcome: 'ok', details: { since: since?.toISOString() ?? null } });
    if (c.req.query('format') === 'jsonl') {
      const all = async function* () {
        let after: string | undefined;
        do {
          const page = await d.trail.read(tenantId, { since, until, limit: 5_000, after });
          for (const e of page.entries) yield JSON.stringify(e) + '\n';
          after = page.next;
        } while (after);
      };
      return ndjson(c, all(), `audit-${tenantId}.jsonl`);
    }
    const page = await d.trail.read(tenantId, { since, until, limit: limitParam(c.req.query('limit'), 100, 5_000), after: c.req.query('after') });
    return c.json(page);
  });

  app.get('/admin/backups', async (c) => {
    const tenant = c.req.query('tenant');
    return c.json({ backups: await d.backups.list(tenant ? { tenantId: tenantIdParam(tenant) } : {}), status: d.backups.status() });
  });

  app.post('/admin/backups', async (c) => {
    const body = await parseBody(c, BackupBody, true);
    if (body.tenant) await d.control.getTenant(body.tenant);
    c.set('audited', true); // the backup service records backup.create
    const backup = await d.backups.create(body.tenant ? { kind: 'tenant', tenantId: body.tenant } : { kind: 'full' }, 'manual', ctxOf(c, d.adminActor));
    await d.audit.flush().catch(() => undefined);
    return c.json({ backup }, 201);
  });

  app.get('/admin/backups/:id', async (c) => c.json({ backup: await d.backups.get(c.req.param('id')) }));

  app.post('/admin/backups/:id/verify', async (c) => {
    c.set('audited', true);
    const result = await d.backups.verify(c.req.param('id'), ctxOf(c, d.adminActor));
    // 200 either way: the verification ran; `ok` says what it found.
    return c.json(result);
  });

  app.post('/admin/backups/:id/restore', async (c) => {
    const body = await parseBody(c, BackupBody, true);
    c.set('audited', true);
    const result = await d.backups.restore(c.req.param('id'), { tenantId: body.tenant }, ctxOf(c, d.adminActor));
    await d.refreshKeys();
    await d.audit.flush().catch(() => undefined);
    return c.json(result);
  });

  // What `palisade migrate --plan` shows while this server owns the data directory.
  app.get('/admin/migrations', async (c) => c.json(await d.migrationPlan()));

  return app;
}
