/**
 * One error type and one code table for the whole service (the Unkey pattern):
 * every failure a caller can see has a stable code, and the HTTP layer maps the
 * code to a status. Messages are written for the caller and never carry
 * untrusted input or internal detail.
 */
export const ErrorCode = {
  // 400
  BAD_REQUEST: 'bad_request',
  INVALID_JSON: 'invalid_json',
  INVALID_BODY: 'invalid_body',
  INVALID_ENCODING: 'invalid_encoding',
  INVALID_EVENT: 'invalid_event',
  INVALID_QUERY: 'invalid_query',
  INVALID_CURSOR: 'invalid_cursor',
  // A tenant's query cap above this node's PALISADE_QUERY_* ceiling (never silently clamped).
  QUERY_CAP_ABOVE_CEILING: 'query_cap_above_ceiling',
  // 401
  UNAUTHORIZED: 'unauthorized',
  MALFORMED_CREDENTIAL: 'malformed_credential',
  INVALID_CREDENTIAL: 'invalid_credential',
  REVOKED_CREDENTIAL: 'revoked_credential',
  // 403
  FORBIDDEN: 'forbidden',
  WRONG_SCOPE: 'wrong_scope',
  ORIGIN_NOT_ALLOWED: 'origin_not_allowed',
  CREDENTIAL_IN_URL: 'credential_in_url',
  // A request on plain HTTP (or forwarded from it): the API is HTTPS only.
  INSECURE_TRANSPORT: 'insecure_transport',
  // 404 / 405
  NOT_FOUND: 'not_found',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  // 409
  CONFLICT: 'conflict',
  // 408: the request did not arrive in time (answered by the HTTP parser, src/http/listen.ts)
  REQUEST_TIMEOUT: 'request_timeout',
  // 413
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  EVENT_TOO_LARGE: 'event_too_large',
  // 415
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  // 431: the URL and headers together exceed PALISADE_MAX_HEADER_BYTES (answered by the HTTP parser)
  HEADERS_TOO_LARGE: 'headers_too_large',
  // 422: a valid query over this node's query limits (PALISADE_QUERY_*); narrow it
  QUERY_TOO_EXPENSIVE: 'query_too_expensive',
  QUERY_TIMEOUT: 'query_timeout',
  RESULT_TOO_LARGE: 'result_too_large',
  // 429
  RATE_LIMITED: 'rate_limited',
  TOO_MANY_QUERIES: 'too_many_queries',
  // 500 / 503
  INTERNAL: 'internal',
  UNAVAILABLE: 'unavailable',
  SPOOL_FULL: 'spool_full',
  // A pre-change backup failed, so the change was refused.
  BACKUP_FAILED: 'backup_failed',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_json: 400,
  invalid_body: 400,
  invalid_encoding: 400,
  invalid_event: 400,
  invalid_query: 400,
  invalid_cursor: 400,
  query_cap_above_ceiling: 400,
  unauthorized: 401,
  malformed_credential: 401,
  invalid_credential: 401,
  revoked_credential: 401,
  forbidden: 403,
  wrong_scope: 403,
  origin_not_allowed: 403,
  credential_in_url: 403,
  insecure_transport: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  request_timeout: 408,
  payload_too_large: 413,
  event_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  query_too_expensive: 422,
  query_timeout: 422,
  result_too_large: 422,
  rate_limited: 429,
  too_many_queries: 429,
  internal: 500,
  unavailable: 503,
  spool_full: 503,
  backup_failed: 503,
};

export function codeToStatus(code: ErrorCode): number {
  return STATUS[code];
}

export interface AppErrorOptions {
  cause?: unknown;
  /** Seconds a client should wait before retrying (429/503). */
  retryAfter?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    // A refusal with a code is the expected answer to a bad request, not a bug, and nothing
    // reads its stack (an unexpected error is logged with its own). Capturing one through the
    // middleware chain cost ~6 µs a refusal here; under a flood of refusals, that adds up.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, { cause: options.cause });
    Error.stackTraceLimit = limit;
    this.name = 'AppError';
    this.code = code;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }

  get status(): number {
    return codeToStatus(this.code);
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
