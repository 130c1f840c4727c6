import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Hono } from 'hono';
import { BatchBodySchema, WireEventSchema } from '../../../schemas/wire.ts';
import { createLogger } from '../../log/index.ts';
import { createAdminApp, createApiApp, type AppDeps } from '../app.ts';
import type { Env } from '../types.ts';
import { buildAdminDocument, buildEventJsonSchema, buildPublicDocument, generatedFiles } from './index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'patch'] as const;

describe('committed contract files', () => {
  it('are what `npm run openapi` builds now (run it and commit when this fails)', () => {
    for (const [file, text] of Object.entries(generatedFiles())) {
      let committed = '';
      try {
        committed = readFileSync(`${ROOT}${file}`, 'utf8');
      } catch {
        assert.fail(`${file} is missing: run npm run openapi`);
      }
      assert.ok(committed === text, `${file} is stale: run npm run openapi and commit it`);
    }
  });
});

describe('the OpenAPI documents', () => {
  for (const [name, build] of [['public', buildPublicDocument], ['admin', buildAdminDocument]] as const) {
    it(`${name}: valid OpenAPI 3.1 by @seriousme/openapi-schema-validator`, async () => {
      const validator = new Validator();
      const result = await validator.validate(structuredClone(build()) as unknown as Record<string, unknown>);
      assert.deepEqual(result.errors, undefined);
      assert.equal(result.valid, true);
      assert.equal(validator.version, '3.1');
    });
  }

  it('the validator refuses a broken document (the check above can fail)', async () => {
    const noInfo = structuredClone(buildPublicDocument()) as { info?: unknown };
    delete noInfo.info;
    assert.equal((await new Validator().validate(noInfo as Record<string, unknown>)).valid, false);
    // A Swagger 2 style scheme is not an OpenAPI 3.1 security scheme.
    const oldScheme = structuredClone(buildAdminDocument()) as { components: { securitySchemes: Record<string, unknown> } };
    oldScheme.components.securitySchemes.adminToken = { type: 'basic' };
    assert.equal((await new Validator().validate(oldScheme as Record<string, unknown>)).valid, false);
  });

  it('every error response names only codes of its status, and every error status of the code table is defined', () => {
    const doc = buildPublicDocument() as unknown as { components: { schemas: Record<string, { properties: { error: { properties: { code: { enum: string[] } } } } }> } };
    assert.deepEqual(doc.components.schemas.Error401?.properties.error.properties.code.enum, ['unauthorized', 'malformed_credential', 'invalid_credential', 'revoked_credential']);
    assert.deepEqual(doc.components.schemas.Error429?.properties.error.properties.code.enum, ['rate_limited', 'too_many_queries']);
  });
});

/**
 * Both apps built with placeholder dependencies: only their route tables are
 * read, no handler runs. Every route a listener answers must be in its
 * document, and every documented operation must be a route.
 */
function routesOf(app: Hono<Env>): { method: string; path: string }[] {
  return app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method.toLowerCase(), path: r.path }));
}

function placeholderDeps(): AppDeps {
  const none = {} as never;
  return {
    logger: createLogger('silent'),
    trustedProxies: [],
    ingest: none,
    admin: { adminToken: 'x'.repeat(32), control: none, refreshKeys: async () => undefined, health: async () => ({}), metrics: async () => ({ contentType: '', body: '' }), doctor: async () => ({}) },
    query: { auth: none, query: none, dashboardOrigins: [] },
    governance: { adminToken: 'x'.repeat(32), adminActor: 'admin:adm_x', audit: none } as never,
    edge: { limits: none, insecure: { trustedProxies: [] } as never, settings: none },
    ready: async () => ({ ready: true, checks: {} }),
  };
}

/** `/admin/tenants/:id` matches `/admin/tenants/{id}`; `/v1/:path` matches `/v1/batch`. */
function routeMatches(route: string, documented: string): boolean {
  const r = route.split('/');
  const d = documented.split('/');
  return r.length === d.length && r.every((seg, i) => seg.startsWith(':') || seg === d[i]);
}

// Static files, not API: the dashboard page and the browser SDK bundle.
const NOT_API = [/^\/dashboard/, /^\/sdk\//];

for (const [name, app, build] of [
  ['public', () => createApiApp(placeholderDeps()), buildPublicDocument],
  ['admin', () => createAdminApp(placeholderDeps()), buildAdminDocument],
] as const) {
  describe(`${name} API: the document and the routes agree`, () => {
    const routes = routesOf(app()).filter((r) => !NOT_API.some((re) => re.test(r.path)));
    const doc = build() as { paths: Record<string, Partial<Record<(typeof METHODS)[number], unknown>>> };
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path })));

    it('every route is documented', () => {
      assert.ok(routes.length >= (name === 'public' ? 12 : 25), `only ${routes.length} routes found`);
      const missing = routes.filter((r) => !documented.some((d) => d.method === r.method && routeMatches(r.path, d.path)));
      assert.deepEqual(missing, []);
    });

    it('every documented operation is a route', () => {
      const extra = documented.filter((d) => !routes.some((r) => r.method === d.method && routeMatches(r.path, d.path)));
      assert.deepEqual(extra, []);
    });
  });
}

describe('schemas/event.schema.json', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const schema = buildEventJsonSchema();
  const event = ajv.compile(schema);
  const batch = ajv.compile({ ...schema, $ref: '#/$defs/BatchBody' });
  const now = '2026-12-01T10:00:00.000Z';
  const good = [
    { type: 'track', event: 'Signed Up', userId: 'u1', properties: { plan: 'pro' }, timestamp: now },
    { type: 'page', name: 'Home', anonymousId: 'a1', properties: { path: '/' }, context: { locale: 'en' } },
    { type: 'screen', name: 'Settings', userId: 42 },
    { type: 'identify', userId: 'u1', traits: { email: 'x@example.com' } },
    { type: 'group', groupId: 'g1', userId: 'u1', traits: { name: 'Acme' } },
    { type: 'alias', previousId: 'a1', userId: 'u1' },
  ];
  const bad = [
    { type: 'track', userId: 'u1' }, // no event name
    { type: 'track', event: 'x', userId: 'u1', tenant_id: 'ten_other' }, // unknown field
    { type: 'purchase', userId: 'u1' }, // unknown type
    { type: 'alias', userId: 'u1' }, // no previousId
    { type: 'identify', userId: 'u1', traits: 'not an object' },
    { type: 'group', userId: 'u1', groupId: '' }, // empty id
  ];

  it('accepts one event of each type, as the server does', () => {
    for (const e of good) {
      assert.ok(WireEventSchema.safeParse(e).success, `zod refuses ${JSON.stringify(e)}`);
      assert.ok(event(e), `${JSON.stringify(e)}: ${ajv.errorsText(event.errors)}`);
    }
  });

  it('refuses what the server refuses', () => {
    for (const e of bad) {
      assert.equal(WireEventSchema.safeParse(e).success, false, `zod accepts ${JSON.stringify(e)}`);
      assert.equal(event(e), false, `the JSON Schema accepts ${JSON.stringify(e)}`);
    }
  });

  it('$defs.BatchBody is a whole /v1/batch body', () => {
    const body = { batch: good, sentAt: now, context: { library: { name: 'x' } } };
    assert.ok(BatchBodySchema.safeParse(body).success);
    assert.ok(batch(body), ajv.errorsText(batch.errors));
    assert.equal(batch({ batch: [] }), false);
    assert.equal(batch({ batch: [bad[0]] }), false);
    assert.equal(batch({ batch: good, extra: 1 }), false);
  });
});
