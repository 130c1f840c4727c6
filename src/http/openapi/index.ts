/**
 * Builds the two OpenAPI 3.1 documents (public API, admin API) and the JSON
 * Schema of the event contract, all from the zod schemas the server
 * validates with. `npm run openapi` writes them to schemas/; a unit test
 * fails when the committed files differ from what this builds, and each
 * listener serves its own document at GET /openapi.json.
 */
import { createDocument, createSchema, type ZodOpenApiObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import {
  AliasEventSchema,
  BatchBodySchema,
  GroupEventSchema,
  IdentifyEventSchema,
  PageEventSchema,
  ScreenEventSchema,
  TrackEventSchema,
  WireEventSchema,
} from '../../../schemas/wire.ts';
import { Query } from '../../query/schema.ts';
import { ADMIN_SECURITY_SCHEMES, adminPaths } from './admin-document.ts';
import { errorResponses, RENDER_OPTIONS } from './common.ts';
import { PUBLIC_SECURITY_SCHEMES, publicPaths } from './public-document.ts';

export type OpenApiDocument = ReturnType<typeof createDocument>;

/** The API's version: the /v1 of its paths. */
const API_VERSION = '1';

/** Named so the documents and the event schema say `TrackEvent`, not an inlined copy at every use. */
const EVENT_COMPONENTS = {
  TrackEvent: TrackEventSchema,
  PageEvent: PageEventSchema,
  ScreenEvent: ScreenEventSchema,
  IdentifyEvent: IdentifyEventSchema,
  GroupEvent: GroupEventSchema,
  AliasEvent: AliasEventSchema,
  WireEvent: WireEventSchema,
  BatchBody: BatchBodySchema,
};

function build(doc: ZodOpenApiObject): OpenApiDocument {
  return withoutUnusedSchemas(createDocument(doc, RENDER_OPTIONS));
}

/**
 * zod-openapi also renders a registered component in its output form when
 * nothing uses it that way (`TrackEventOutput`); nothing refers to those, so
 * they go: every schema left is reachable from a path.
 */
function withoutUnusedSchemas(doc: OpenApiDocument): OpenApiDocument {
  const schemas = doc.components?.schemas;
  if (!schemas) return doc;
  const refs = (v: unknown) => [...JSON.stringify(v).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1] as string);
  const used = new Set<string>();
  const queue = [...refs(doc.paths), ...refs(doc.components?.responses)];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (used.has(name)) continue;
    used.add(name);
    queue.push(...refs(schemas[name]));
  }
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
  return doc;
}

function notFound(): ZodOpenApiResponseObject {
  return errorResponses([404])['404'] as ZodOpenApiResponseObject;
}

export function buildPublicDocument(): OpenApiDocument {
  return build({
    openapi: '3.1.0',
    info: {
      title: 'Palisade public API',
      version: API_VERSION,
      description:
        'Event ingestion (Segment’s HTTP Tracking API shape), the tenant-scoped query API and a tenant’s self-service routes, on the HTTPS ingestion listener. ' +
        'Every failure answers `{ error: { code, message, requestId } }`; `code` is stable, `message` is for people. ' +
        'A method a /v1 path does not list answers 405 (`method_not_allowed`); an unknown path 404 (`not_found`).',
    },
    tags: [
      { name: 'ingest', description: 'Sending events.' },
      { name: 'query', description: 'Reading them back (query key).' },
      { name: 'tenant', description: 'What a tenant does for itself with its query key.' },
      { name: 'cors', description: 'Browser preflights.' },
      { name: 'meta', description: 'Health and this document.' },
    ],
    components: {
      securitySchemes: PUBLIC_SECURITY_SCHEMES,
      schemas: { ...EVENT_COMPONENTS, Query },
      // What any path not listed here (404) or any method a /v1 path does not list (405) answers.
      responses: { NotFound: notFound(), MethodNotAllowed: errorResponses([405])['405'] as ZodOpenApiResponseObject },
    },
    paths: publicPaths(),
  });
}

export function buildAdminDocument(): OpenApiDocument {
  return build({
    openapi: '3.1.0',
    info: {
      title: 'Palisade admin API',
      version: API_VERSION,
      description:
        'The operators’ API on the admin listener, behind the admin token (`Authorization: Bearer <token>`). ' +
        'Every failure answers `{ error: { code, message, requestId } }`. A path or method not listed here answers 404 (`not_found`).',
    },
    tags: ['tenants', 'keys', 'settings', 'audit', 'backups', 'migrations', 'retention', 'deletion', 'support', 'meta'].map((name) => ({ name })),
    components: { securitySchemes: ADMIN_SECURITY_SCHEMES, schemas: { Query }, responses: { NotFound: notFound() } },
    security: [{ adminToken: [] }],
    paths: adminPaths(),
  });
}

/**
 * JSON Schema (2020-12) of one event of any type, with each type and the
 * batch body under $defs, for SDK authors: `event.schema.json#/$defs/BatchBody`
 * is a whole POST /v1/batch body. Rules JSON Schema cannot say (userId or
 * anonymousId required, real calendar dates) are in the descriptions.
 */
export function buildEventJsonSchema(): Record<string, unknown> {
  const render = (root: typeof WireEventSchema | typeof BatchBodySchema) =>
    createSchema(root, { io: 'input', opts: RENDER_OPTIONS, schemaComponents: EVENT_COMPONENTS, schemaRefPath: '#/$defs/', openapiVersion: '3.1.0' });
  const event = render(WireEventSchema);
  // Rendered on its own too: createSchema keeps only the components its root reaches.
  const batch = render(BatchBodySchema);
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Palisade event',
    description:
      'One event as POST /v1/{track,page,screen,identify,group,alias} accepts it; $defs.BatchBody is a POST /v1/batch body. ' +
      'Every event but alias needs userId or anonymousId; alias needs previousId and userId. Generated from schemas/wire.ts by `npm run openapi`.',
    ...event.schema,
    $defs: { ...event.components, ...batch.components },
  };
}

/** The files `npm run openapi` writes, relative to the repository root, with their content. */
export function generatedFiles(): Record<string, string> {
  const text = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'schemas/openapi/public.json': text(buildPublicDocument()),
    'schemas/openapi/admin.json': text(buildAdminDocument()),
    'schemas/event.schema.json': text(buildEventJsonSchema()),
  };
}
