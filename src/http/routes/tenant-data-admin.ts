/**
 * Admin API over a tenant's data: retention, deletion on request, export,
 * and support queries. Reading a tenant's events (query, export) needs a
 * live support grant from that tenant; without one the answer is 403 and
 * the attempt is audited. Every call here lands in the tenant's own trail,
 * and the entry is written before any data is returned.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../errors/index.ts';
import type { SupportGrant } from '../../control/support-grants.ts';
import { MAX_RETENTION_DAYS } from '../../ops/retention.ts';
import { ctxOf } from '../audit-hooks.ts';
import { adminToken } from '../middleware/admin-token.ts';
import { ndjson, parseBody, tenantIdParam, type GovernanceDeps } from './governance-common.ts';
import type { Env } from '../types.ts';

export const RetentionBody = z.object({ retentionDays: z.number().int().min(0).max(MAX_RETENTION_DAYS) }).strict();
/** Optional body of a user deletion and its plan: anonymous ids the data subject showed to be theirs. */
export const UserDeletionBody = z
  .object({ anonymousIds: z.array(z.string().min(1).max(256).refine((s) => s.isWellFormed(), 'must be well-formed Unicode (no lone surrogates)')).max(100).optional() })
  .strict();

export function tenantDataAdminRoutes(d: GovernanceDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('/admin/*', adminToken(d.adminToken));
  const ctx = (c: Context<Env>) => ctxOf(c, d.adminActor);

  /** The tenant's live grant, or a 403 that is itself in the tenant's trail. */
  async function requireGrant(c: Context<Env>, tenantId: string, action: string): Promise<SupportGrant> {
    c.set('audited', true);
    const grant = await d.grants.live(tenantId);
    if (grant) return grant;
    await d.audit.recordDurable({ ...ctx(c), tenantId, action, target: tenantId, outcome: 'denied', details: { reason: 'no live support grant' } });
    throw new AppError(
      ErrorCode.FORBIDDEN,
      "no live support grant from this tenant: operators may read a tenant's data only while the tenant allows it (POST /v1/support-grants with its query key)",
    );
  }

  app.get('/admin/tenants/:id/retention', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    await d.control.getTenant(tenantId);
    return c.json({ tenantId, retentionDays: await d.retention.get(tenantId) });
  });

  app.put('/admin/tenants/:id/retention', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    const body = await parseBody(c, RetentionBody);
    c.set('audited', true); // retention.update, with the backup id, is recorded by the service
    return c.json(await d.retention.set(tenantId, body.retentionDays, ctx(c)));
  });

  // The dry run: what the deletion below would take (ids followed, with the key that linked each, claims not followed, counts per id).
  app.post('/admin/tenants/:id/users/:userId/deletion-plan', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    const body = await parseBody(c, UserDeletionBody, true);
    c.set('audited', true);
    const plan = await d.deletions.planUser(tenantId, c.req.param('userId'), ctx(c), body);
    return c.json({ plan });
  });

  app.delete('/admin/tenants/:id/users/:userId', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    const body = await parseBody(c, UserDeletionBody, true);
    c.set('audited', true);
    const receipt = await d.deletions.deleteUser(tenantId, c.req.param('userId'), ctx(c), body);
    return c.json({ receipt });
  });

  app.delete('/admin/tenants/:id', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    c.set('audited', true);
    const receipt = await d.deletions.deleteTenant(tenantId, ctx(c));
    return c.json({ receipt });
  });

  app.get('/admin/tenants/:id/support-grants', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    return c.json({ grants: await d.grants.list(tenantId) });
  });

  app.post('/admin/tenants/:id/query', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    await d.control.getTenant(tenantId);
    const grant = await requireGrant(c, tenantId, 'support.query');
    const body = await parseBody(c, z.unknown());
    const started = performance.now();
    const base = { ...ctx(c), tenantId, action: 'support.query', target: grant.id };
    let outcome;
    try {
      outcome = await d.supportQuery(tenantId, body);
    } catch (err) {
      await d.audit.recordDurable({ ...base, outcome: 'failed', details: { grantId: grant.id, error: err instanceof AppError ? err.code : 'internal' } });
      throw err;
    }
    // Written before the rows leave: if the trail cannot record it, the operator gets nothing.
    await d.audit.recordDurable({
      ...base,
      outcome: 'ok',
      details: { grantId: grant.id, kind: outcome.kind, rows: outcome.rows, durationMs: Math.round(performance.now() - started) },
    });
    return c.json({ grant: { id: grant.id, expiresAt: grant.expiresAt }, result: outcome.result });
  });

  app.get('/admin/tenants/:id/export', async (c) => {
    const tenantId = tenantIdParam(c.req.param('id'));
    await d.control.getTenant(tenantId);
    const grant = await requireGrant(c, tenantId, 'tenant.export');
    // An operator's export runs under the tenant's caps too: it reads the tenant's share of the engine.
    const lines = await d.exports.open(tenantId, c.req.query('after'));
    await d.audit.recordDurable({ ...ctx(c), tenantId, action: 'tenant.export', target: grant.id, outcome: 'ok', details: { grantId: grant.id, via: 'admin' } });
    return ndjson(c, lines, `${tenantId}.jsonl`);
  });

  return app;
}
