/**
 * A tenant's edge settings (privacy rules, rate limit, plain-HTTP policy, query caps) on the admin listener:
 *   GET   /admin/tenants/:id/settings   the settings in force (defaults where none were set)
 *   PATCH /admin/tenants/:id/settings   any subset of them; the rest stay as they are
 * Every edge picks a change up with its next key-table refresh (this one at
 * once). A change is audited with the names of the fields it changed.
 * A `query` cap above this node's PALISADE_QUERY_* ceiling is refused (400
 * query_cap_above_ceiling), never clamped.
 */
import { Hono } from 'hono';
import { TenantSettingsPatch, type TenantSettings } from '../../../schemas/tenant-settings.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import type { ControlPlane } from '../../control/control-plane.ts';
import type { EdgeSettingsStore } from '../../control/edge-settings.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { TENANT_ID } from '../../control/tenant-id.ts';
import { assertWithinCeilings, type QueryCeilings } from '../../query/caps.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import { adminToken } from '../middleware/admin-token.ts';
import type { Env } from '../types.ts';

export interface TenantSettingsDeps {
  store: EdgeSettingsStore;
  control: Pick<ControlPlane, 'getTenant'>;
  refreshKeys: () => Promise<void>;
  audit?: Pick<AuditLog, 'recordDurable'>;
  /** `admin:adm_…`, the admin token's handle in the audit trail. */
  adminActor: string;
  /** This node's query limits, the ceilings of a tenant's `query` caps. */
  queryCeilings: QueryCeilings;
}

function tenantId(raw: string): string {
  if (!TENANT_ID.test(raw)) throw new AppError(ErrorCode.NOT_FOUND, 'no such tenant');
  return raw;
}

function changedFields(before: TenantSettings, after: TenantSettings): string[] {
  return (Object.keys(after) as (keyof TenantSettings)[]).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

export function tenantSettingsRoutes(d: TenantSettingsDeps, auth: { adminToken: string }): Hono<Env> {
  const app = new Hono<Env>();
  app.use('/admin/*', adminToken(auth.adminToken));

  app.get('/admin/tenants/:id/settings', async (c) => {
    const id = tenantId(c.req.param('id'));
    await d.control.getTenant(id);
    return c.json({ tenantId: id, settings: await d.store.get(id) });
  });

  app.patch('/admin/tenants/:id/settings', async (c) => {
    const id = tenantId(c.req.param('id'));
    assertJsonContentType(c.req.raw, false);
    const body = await readJsonBody(c.req.raw, { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 }, c.env?.incoming);
    const parsed = TenantSettingsPatch.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      // The path and zod's message name the field and the rule; neither quotes the value.
      throw new AppError(ErrorCode.INVALID_BODY, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
    }
    if (parsed.data.query) assertWithinCeilings(parsed.data.query, d.queryCeilings);
    await d.control.getTenant(id);
    const before = await d.store.get(id);
    const settings = await d.store.update(id, parsed.data);
    await d.refreshKeys();
    const changed = changedFields(before, settings);
    if (d.audit) {
      // Policies and paths are configuration, not customer data: the entry says what was set.
      await d.audit.recordDurable({
        actor: d.adminActor,
        tenantId: id,
        action: 'tenant.settings.update',
        target: id,
        outcome: 'ok',
        clientIp: c.get('clientIp'),
        requestId: c.get('requestId'),
        details: {
          changed,
          ...Object.fromEntries(changed.filter((k) => k !== 'rateLimit').map((k) => [k, settings[k as keyof TenantSettings]])),
          ...(changed.includes('rateLimit') ? { rateLimitEventsPerSecond: settings.rateLimit?.eventsPerSecond ?? null, rateLimitBurst: settings.rateLimit?.burst ?? null } : {}),
        },
      });
      c.set('audited', true);
    }
    return c.json({ tenantId: id, settings, changed });
  });

  return app;
}
