/**
 * GET /openapi.json on each listener: its own document, no credential needed
 * (it names routes and shapes, never a tenant or a secret). Built from the
 * zod schemas on the first request and kept: it cannot change while the
 * process runs.
 */
import type { Handler } from 'hono';
import type { Env } from '../types.ts';
import { buildAdminDocument, buildPublicDocument } from './index.ts';

export function openApiDocument(listener: 'api' | 'admin'): Handler<Env> {
  let body: string | undefined;
  return function openApiDocument(c) {
    body ??= JSON.stringify(listener === 'api' ? buildPublicDocument() : buildAdminDocument());
    // A public description of the API: any page (an API explorer, say) may read it.
    c.header('Access-Control-Allow-Origin', '*');
    c.header('Cache-Control', 'public, max-age=300');
    c.header('Content-Type', 'application/json; charset=utf-8');
    return c.body(body);
  };
}
