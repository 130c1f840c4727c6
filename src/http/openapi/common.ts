/**
 * What both OpenAPI documents share: the one error body, one response per
 * status with the codes that status carries (derived from the code table in
 * src/errors, so a new code shows up in the document by itself), the way the
 * zod schemas render, and small helpers for operations.
 */
import { z } from 'zod';
import type { CreateDocumentOptions, ZodOpenApiOperationObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import { IdSchema, JsonObjectSchema, TimestampSchema, WIRE_LIMITS } from '../../../schemas/wire.ts';
import { ErrorCode, codeToStatus } from '../../errors/index.ts';

const ALL_CODES = Object.values(ErrorCode);

export function codesOf(status: number): ErrorCode[] {
  return ALL_CODES.filter((c) => codeToStatus(c) === status);
}

export const ERROR_STATUSES = [...new Set(ALL_CODES.map(codeToStatus))].sort((a, b) => a - b);

const DESCRIPTION: Record<number, string> = {
  400: 'The request is malformed or fails validation.',
  401: 'No credential, or one that is malformed, unknown or revoked.',
  403: 'The credential may not do this (wrong scope, origin not allowed, credential in the URL, plain HTTP), or an operator has no support grant.',
  404: 'No such route or resource.',
  405: 'The method is not allowed on this path.',
  408: 'The request did not arrive within the request timeout (answered before routing).',
  409: 'The resource is not in a state that allows this.',
  413: 'The body (or one event, or the decompressed body) is over its size limit.',
  415: 'Unsupported content type or content encoding.',
  431: 'The URL and headers are over the header size limit (answered before routing).',
  422: "A valid query over this node's or this tenant's query limits: narrow it.",
  429: 'Rate limited: retry after the Retry-After header’s seconds.',
  500: 'Internal error: the body says nothing more than the request id.',
  503: 'Unavailable (draining, spool full, the database away, a pre-change backup failed): retry after Retry-After.',
};

const errorBodies = new Map<number, z.ZodType>();

/** `{ error: { code, message, requestId } }` with the codes this status carries. */
export function errorBody(status: number): z.ZodType {
  let schema = errorBodies.get(status);
  if (!schema) {
    const codes = codesOf(status);
    if (codes.length === 0) throw new Error(`no error code maps to HTTP ${status}`);
    schema = z
      .object({
        error: z.object({
          code: z.enum(codes as [string, ...string[]]),
          message: z.string().meta({ description: 'For people; never quotes the request. Branch on `code`.' }),
          requestId: z.string().meta({ description: 'Also in the X-Request-Id header; quote it when asking for help.' }),
        }),
      })
      .meta({ id: `Error${status}` });
    errorBodies.set(status, schema);
  }
  return schema;
}

const RetryAfter = z.object({ 'retry-after': z.string().meta({ description: 'Seconds to wait before retrying.' }) });

export function errorResponses(statuses: readonly number[]): ZodOpenApiResponsesObject {
  const out: ZodOpenApiResponsesObject = {};
  for (const status of statuses) {
    out[String(status) as `4${string}`] = {
      description: DESCRIPTION[status] ?? `HTTP ${status}`,
      ...(status === 429 || status === 503 ? { headers: RetryAfter } : {}),
      content: { 'application/json': { schema: errorBody(status) } },
    };
  }
  return out;
}

export function json(schema: z.ZodType, description: string, status = 200): ZodOpenApiResponsesObject {
  return { [String(status) as `2${string}`]: { description, content: { 'application/json': { schema } } } };
}

export const NDJSON = 'application/x-ndjson';

export function ndjsonResponse(description: string): ZodOpenApiResponsesObject {
  return { '200': { description, content: { [NDJSON]: { schema: { type: 'string', description: 'One JSON object per line.' } } } } };
}

export function jsonBody(schema: z.ZodType, types: readonly string[] = ['application/json']): ZodOpenApiOperationObject['requestBody'] {
  return { required: true, content: Object.fromEntries(types.map((t) => [t, { schema }])) };
}

/** Statuses every operation can answer: a crash is a 500, the database away a 503. */
export const ALWAYS = [500, 503] as const;

export function statuses(...lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** The OpenAPI document itself, served at GET /openapi.json on each listener without a credential. */
export const openApiOperation: ZodOpenApiOperationObject = {
  operationId: 'getOpenApiDocument',
  summary: 'This OpenAPI document',
  tags: ['meta'],
  security: [],
  responses: { '200': { description: 'The OpenAPI 3.1 document of this listener.', content: { 'application/json': { schema: { type: 'object' } } } } },
};

/**
 * How the shared zod schemas render. A JSON object field (properties, traits,
 * context) is a zod `custom` check, which has no JSON Schema of its own: it
 * renders as `type: object`. A timestamp is a string with a refinement that
 * JSON Schema cannot say: its rule goes into the description. An id is a
 * string or a number made a string, then capped: the cap is on what is sent.
 */
export const RENDER_OPTIONS: CreateDocumentOptions = {
  override: ({ jsonSchema, zodSchema, io }) => {
    if (zodSchema === JsonObjectSchema) jsonSchema.type = 'object';
    if (zodSchema === IdSchema && io === 'input') {
      delete jsonSchema.type;
      jsonSchema.anyOf = [{ type: 'string', minLength: 1, maxLength: WIRE_LIMITS.idLength }, { type: 'number' }];
    }
    if (zodSchema === TimestampSchema) jsonSchema.description = 'An ISO-8601 date or date-time between 1970 and 2200; without an offset it is UTC.';
  },
  allowEmptySchema: { custom: true },
};
