/**
 * The operators' API on the admin listener (127.0.0.1 by default), behind the
 * admin token. Tenants and keys; a key's token appears in exactly one
 * response, the one that created it.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { TENANT_ID } from '../../control/tenant-id.ts';
import { SCOPES } from '../../auth/tokens.ts';
import type { ControlPlane } from '../../control/control-plane.ts';
import { assertJsonContentType, readJsonBody } from '../body.ts';
import { adminToken } from '../middleware/admin-token.ts';
import type { Env } from '../types.ts';

export interface AdminRouteDeps {
  adminToken: string;
  control: ControlPlane;
  /** Called after any change to keys or tenants so this edge sees it at once. */
  refreshKeys: () => Promise<void>;
  health: () => Promise<Record<string, unknown>>;
  /** Prometheus exposition of the edge's metrics (counts and states, no tenant data). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** What `palisade doctor` reads (src/ops/doctor.ts): warehouse, spool, backups, disk, recent auth failures. */
  doctor?: () => Promise<unknown>;
}

const KEY_ID = /^[0-9A-Za-z]{16}$/;
const ORIGIN = z
  .string()
  .max(512)
  .refine((o) => {
    try {
      const u = new URL(o);
      // An origin is scheme://host[:port] exactly: no path, no wildcard.
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o;
    } catch {
      return false;
    }
  }, 'must be an origin such as https://example.com (scheme, host, optional port; no path, no wildcard)');

export const CreateTenant = z.object({ name: z.string().trim().min(1).max(200), allowedOrigins: z.array(ORIGIN).max(100).default([]) }).strict();
export const UpdateTenant = z
  .object({ name: z.string().trim().min(1).max(200).optional(), addAllowedOrigins: z.array(ORIGIN).max(100).optional(), removeAllowedOrigins: z.array(z.string().max(512)).max(100).optional() })
  .strict();
export const CreateKey = z.object({ scope: z.enum(SCOPES as [string, ...string[]]) }).strict();

async function parse<T extends z.ZodTypeAny>(req: Request, schema: T): Promise<z.infer<T>> {
  assertJsonContentType(req, false);
  const body = await readJsonBody(req, { maxBodyBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 });
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(ErrorCode.INVALID_BODY, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function tenantId(raw: string): string {
  if (!TENANT_ID.test(raw)) throw new AppError(ErrorCode.NOT_FOUND, 'no such tenant');
  return raw;
}

export function adminRoutes(deps: AdminRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/healthz', async (c) => c.json(await deps.health()));
  // Like /healthz, open on the admin listener (loopback or an operators' network) so
  // Prometheus scrapes it without holding the admin token; it carries no tenant data.
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (c) => {
      const m = await metrics();
      return c.body(m.body, 200, { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' });
    });
  }
  app.use('/admin/*', adminToken(deps.adminToken));
  const doctor = deps.doctor;
  if (doctor) app.get('/admin/doctor', async (c) => c.json(await doctor()));

  app.post('/admin/tenants', async (c) => {
    const body = await parse(c.req.raw, CreateTenant);
    const tenant = await deps.control.createTenant(body.name, body.allowedOrigins);
    const [ingest, browser, query] = await Promise.all(
      (['ingest', 'browser', 'query'] as const).map((s) => deps.control.createKey(tenant.id, s)),
    );
    await deps.refreshKeys();
    return c.json({ tenant, keys: { ingest: ingest?.token, browser: browser?.token, query: query?.token } }, 201);
  });

  app.get('/admin/tenants', async (c) => c.json({ tenants: await deps.control.listTenants() }));
  app.get('/admin/tenants/:id', async (c) => c.json({ tenant: await deps.control.getTenant(tenantId(c.req.param('id'))) }));

  app.patch('/admin/tenants/:id', async (c) => {
    const id = tenantId(c.req.param('id'));
    const body = await parse(c.req.raw, UpdateTenant);
    const tenant = await deps.control.updateTenant(id, {
      name: body.name,
      addOrigins: body.addAllowedOrigins,
      removeOrigins: body.removeAllowedOrigins,
    });
    await deps.refreshKeys();
    return c.json({ tenant });
  });

  app.get('/admin/tenants/:id/stats', async (c) => c.json(await deps.control.tenantStats(tenantId(c.req.param('id')))));

  app.get('/admin/tenants/:id/keys', async (c) => c.json({ keys: await deps.control.listKeys(tenantId(c.req.param('id'))) }));

  app.post('/admin/tenants/:id/keys', async (c) => {
    const id = tenantId(c.req.param('id'));
    const body = await parse(c.req.raw, CreateKey);
    const created = await deps.control.createKey(id, body.scope as (typeof SCOPES)[number]);
    await deps.refreshKeys();
    return c.json(created, 201);
  });

  app.delete('/admin/keys/:keyId', async (c) => {
    const keyId = c.req.param('keyId');
    if (!KEY_ID.test(keyId)) throw new AppError(ErrorCode.NOT_FOUND, 'no such key');
    const key = await deps.control.revokeKey(keyId);
    await deps.refreshKeys();
    return c.json({ key });
  });

  return app;
}
