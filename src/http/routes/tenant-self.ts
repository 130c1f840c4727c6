/**
 * What a tenant does for itself with its query key (API listener, the key
 * in the Authorization header only): read its own audit trail, grant,
 * list and revoke support access, and export its own data. The tenant is
 * always the key's; nothing in the request can name another one.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { parseDuration } from '../../control/support-grants.ts';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { parseSince } from '../../audit/trail.ts';
import { ctxOf, keyActor } from '../audit-hooks.ts';
import { keyAuth, noCredentialInUrl, principalOf } from '../middleware/key-auth.ts';
import { limitParam, ndjson, parseBody, type GovernanceDeps } from './governance-common.ts';
import type { Env } from '../types.ts';

export const CreateGrant = z
  .object({
    duration: z.string().max(16).refine((v) => parseDuration(v) !== undefined, 'a duration such as "8h" or "7d" (at most 21d)'),
    reason: z.string().trim().max(500).default(''),
  })
  .strict();

export function tenantSelfRoutes(d: GovernanceDeps): Hono<Env> {
  const app = new Hono<Env>();

  // Every route here: the tenant's query key, in the Authorization header only.
  const queryKey = [
    noCredentialInUrl(),
    keyAuth({ auth: d.auth, scopes: ['query'], wrongScope: (scope) => `a ${scope} key cannot do this; use the tenant's query key` }),
  ] as const;

  app.get('/v1/audit', ...queryKey, async (c) => {
    const p = principalOf(c);
    const since = parseSince(c.req.query('since'));
    const until = parseSince(c.req.query('until'));
    if ((c.req.query('since') && !since) || (c.req.query('until') && !until)) {
      throw new AppError(ErrorCode.BAD_REQUEST, 'since/until: an ISO-8601 time from 1970 to 2199, or a duration back from now such as 7d');
    }
    // The tenant reading its own trail: under its query caps and fair turn, like any read of its data.
    const page = await d.trail.readAsTenant(p.tenantId, { since, until, limit: limitParam(c.req.query('limit'), 100, 1_000), after: c.req.query('after') });
    d.audit.record({ ...ctxOf(c, keyActor(p)), tenantId: p.tenantId, action: 'audit.read', target: p.tenantId, outcome: 'ok', details: { entries: page.entries.length } });
    return c.json(page);
  });

  app.get('/v1/support-grants', ...queryKey, async (c) => {
    const p = principalOf(c);
    return c.json({ grants: await d.grants.list(p.tenantId) });
  });

  app.post('/v1/support-grants', ...queryKey, async (c) => {
    const p = principalOf(c);
    const body = await parseBody(c, CreateGrant);
    const grant = await d.grants.create(p.tenantId, p.keyId, parseDuration(body.duration) as number, body.reason);
    await d.audit.recordDurable({
      ...ctxOf(c, keyActor(p)),
      tenantId: p.tenantId,
      action: 'support_grant.create',
      target: grant.id,
      outcome: 'ok',
      details: { expiresAt: grant.expiresAt, duration: body.duration },
    });
    return c.json({ grant }, 201);
  });

  app.delete('/v1/support-grants/:id', ...queryKey, async (c) => {
    const p = principalOf(c);
    const grant = await d.grants.revoke(p.tenantId, c.req.param('id'), p.keyId);
    await d.audit.recordDurable({ ...ctxOf(c, keyActor(p)), tenantId: p.tenantId, action: 'support_grant.revoke', target: grant.id, outcome: 'ok' });
    return c.json({ grant });
  });

  app.get('/v1/export', ...queryKey, async (c) => {
    const p = principalOf(c);
    const lines = await d.exports.open(p.tenantId, c.req.query('after'));
    await d.audit.recordDurable({ ...ctxOf(c, keyActor(p)), tenantId: p.tenantId, action: 'tenant.export', target: p.tenantId, outcome: 'ok', details: { via: 'query_key' } });
    return ndjson(c, lines, `${p.tenantId}.jsonl`);
  });

  return app;
}
