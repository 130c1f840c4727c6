/**
 * The public API's OpenAPI document (the ingestion listener): tracking,
 * query, and a tenant's self-service routes. Request bodies are the very zod
 * schemas the routes validate with; responses are src/http/openapi/responses.ts
 * and the error bodies of common.ts.
 */
import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject } from 'zod-openapi';
import { EVENT_TYPES, type EventType } from '../../../schemas/event-row.ts';
import { BatchBodySchema, WIRE_EVENT_SCHEMAS } from '../../../schemas/wire.ts';
import { Query } from '../../query/schema.ts';
import { CreateGrant } from '../routes/tenant-self.ts';
import { ALWAYS, errorResponses, json, jsonBody, ndjsonResponse, openApiOperation, statuses } from './common.ts';
import { HealthOk, IngestAccepted, QueryResult, Readiness, SchemaResult, SupportGrant, TrailPage } from './responses.ts';

const KEY_SECURITY: Record<string, string[]>[] = [{ keyBasic: [] }, { keyBearer: [] }];
/** Every /v1 request can meet the plain-HTTP refusal (403) and the per-IP limits (429). */
const V1 = [403, 429, ...ALWAYS];

/** The labels a JSON body may carry on /v1/* (beacons cannot send application/json without a preflight). */
// The tracking routes read the body as JSON whatever its label (Segment- and
// RudderStack-style clients send these three); see src/http/body.ts.
const INGEST_BODY_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded'];

const SHORT: Record<string, 'batch' | EventType> = { b: 'batch', t: 'track', p: 'page', s: 'screen', i: 'identify', g: 'group', a: 'alias' };

function ingestOperation(kind: 'batch' | EventType, alias?: string): ZodOpenApiOperationObject {
  const schema = kind === 'batch' ? BatchBodySchema : WIRE_EVENT_SCHEMAS[kind];
  const cap = kind[0]?.toUpperCase() + kind.slice(1);
  return {
    operationId: alias ? `ingest${cap}Short` : `ingest${cap}`,
    summary: alias ? `/v1/${kind} under analytics.js 2.0's one-letter name` : kind === 'batch' ? 'Send a batch of events' : `Send one ${kind} event`,
    description:
      'Segment’s HTTP Tracking API shape. A server key (pal_sk_…) goes in the Authorization header; a publishable browser key ' +
      '(pal_pk_…) may instead come as `writeKey` in the body, from the tenant’s allowed origins only. ' +
      (kind === 'batch'
        ? 'Each event is validated alone: the valid ones are kept, and the response lists the rejected ones with their index and reason.'
        : 'An invalid event is a 400 (`invalid_event`) or a 413 (`event_too_large`).'),
    tags: ['ingest'],
    security: [...KEY_SECURITY, {}],
    requestBody: jsonBody(schema, INGEST_BODY_TYPES),
    responses: {
      ...json(IngestAccepted, 'Accepted: on disk (fsync) before this answer.'),
      ...errorResponses(statuses([400, 401, 413, 415], V1)),
    },
  };
}

function preflight(operationId: string): ZodOpenApiOperationObject {
  return {
    operationId,
    summary: 'CORS preflight',
    tags: ['cors'],
    security: [],
    responses: { '204': { description: 'The origin may call this path.' }, ...errorResponses(statuses([403], V1)) },
  };
}

const queryKey = (op: Omit<ZodOpenApiOperationObject, 'security'>): ZodOpenApiOperationObject => ({ security: KEY_SECURITY, ...op });

function ingestPaths(): ZodOpenApiPathsObject {
  const paths: ZodOpenApiPathsObject = {};
  for (const kind of ['batch', ...EVENT_TYPES] as const) {
    paths[`/v1/${kind}`] = { post: ingestOperation(kind), options: preflight(`preflight${kind[0]?.toUpperCase()}${kind.slice(1)}`) };
  }
  for (const [alias, kind] of Object.entries(SHORT)) {
    paths[`/v1/${alias}`] = { post: ingestOperation(kind, alias), options: preflight(`preflight${kind[0]?.toUpperCase()}${kind.slice(1)}Short`) };
  }
  return paths;
}

const TimeQuery = z.string().meta({ description: 'An ISO-8601 time or a duration back from now such as 7d, 12h, 30m.' });

function queryPaths(): ZodOpenApiPathsObject {
  return {
    '/v1/query': {
      post: queryKey({
        operationId: 'query',
        summary: 'Run a structured query (trend, top, funnel, events, warnings, schema)',
        description: 'A query key in the Authorization header only. The tenant is always the key’s: an unknown field (a tenant id, say) is refused.',
        tags: ['query'],
        requestBody: jsonBody(Query),
        responses: { ...json(QueryResult, 'The result, by kind.'), ...errorResponses(statuses([400, 401, 413, 415, 422], V1)) },
      }),
      options: preflight('preflightQuery'),
    },
    '/v1/query/schema': {
      get: queryKey({
        operationId: 'querySchema',
        summary: 'Event names and property keys seen in a time range (for pickers)',
        tags: ['query'],
        requestParams: { query: z.object({ from: z.string().optional(), to: z.string().optional() }) },
        responses: { ...json(SchemaResult, 'Names with their counts.'), ...errorResponses(statuses([400, 401, 422], V1)) },
      }),
      options: preflight('preflightQuerySchema'),
    },
  };
}

function tenantSelfPaths(): ZodOpenApiPathsObject {
  return {
    '/v1/audit': {
      get: queryKey({
        operationId: 'readOwnAuditTrail',
        summary: 'The tenant’s own audit trail, a page at a time',
        tags: ['tenant'],
        requestParams: {
          query: z.object({
            since: TimeQuery.optional(),
            until: TimeQuery.optional(),
            limit: z.string().optional().meta({ description: '1 to 1000 (default 100).' }),
            after: z.string().optional().meta({ description: 'The `next` of the previous page.' }),
          }),
        },
        // 422/429: the tenant's query caps apply to reading its trail too.
        responses: { ...json(TrailPage, 'Entries, oldest first.'), ...errorResponses(statuses([400, 401, 422], V1)) },
      }),
    },
    '/v1/support-grants': {
      get: queryKey({
        operationId: 'listSupportGrants',
        summary: 'Support-access grants this tenant has issued',
        tags: ['tenant'],
        responses: { ...json(z.object({ grants: z.array(SupportGrant) }), 'Every grant, live or not.'), ...errorResponses(statuses([401], V1)) },
      }),
      post: queryKey({
        operationId: 'createSupportGrant',
        summary: 'Let operators read this tenant’s data for a while (at most 21 days)',
        tags: ['tenant'],
        requestBody: jsonBody(CreateGrant),
        responses: { ...json(z.object({ grant: SupportGrant }), 'The grant.', 201), ...errorResponses(statuses([400, 401, 413, 415], V1)) },
      }),
    },
    '/v1/support-grants/{id}': {
      delete: queryKey({
        operationId: 'revokeSupportGrant',
        summary: 'Revoke a support grant at once',
        tags: ['tenant'],
        requestParams: { path: z.object({ id: z.string() }) },
        responses: { ...json(z.object({ grant: SupportGrant }), 'The revoked grant.'), ...errorResponses(statuses([401, 404], V1)) },
      }),
    },
    '/v1/export': {
      get: queryKey({
        operationId: 'exportOwnData',
        summary: 'Everything stored for this tenant, as JSON lines, in bounded parts',
        tags: ['tenant'],
        requestParams: { query: z.object({ after: z.string().optional().meta({ description: 'The `next` of the previous part’s `end` line.' }) }) },
        responses: {
          ...ndjsonResponse(
            'A header line, the events, and a final `end` line (absent when the download was cut short). A part holds at most 100,000 events, 64 MiB or the tenant’s query time limit; ' +
              'its `end` line then has `complete: false` and a `next` cursor for the following part.',
          ),
          ...errorResponses(statuses([400, 401, 422], V1)),
        },
      }),
    },
  };
}

export function publicPaths(): ZodOpenApiPathsObject {
  return {
    '/healthz': { get: { operationId: 'health', summary: 'Liveness', tags: ['meta'], security: [], responses: json(HealthOk, 'The process is up.') } },
    '/readyz': {
      get: {
        operationId: 'ready',
        summary: 'Readiness: can this edge accept and deliver events now?',
        tags: ['meta'],
        security: [],
        responses: {
          ...json(Readiness, 'Ready.'),
          '503': { description: 'Degraded: send traffic to another edge.', content: { 'application/json': { schema: Readiness } } },
        },
      },
    },
    '/openapi.json': { get: openApiOperation },
    ...ingestPaths(),
    ...queryPaths(),
    ...tenantSelfPaths(),
  };
}

export const PUBLIC_SECURITY_SCHEMES = {
  keyBasic: {
    type: 'http' as const,
    scheme: 'basic',
    description:
      'Segment’s convention: the whole key token (pal_sk_… or pal_pk_…) as the user name and an empty password; or the key id as user name and its secret as password.',
  },
  keyBearer: { type: 'http' as const, scheme: 'bearer', description: 'The key token (pal_sk_… or pal_pk_…) as a bearer token.' },
};
