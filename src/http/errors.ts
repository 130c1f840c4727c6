/**
 * One error body for every failure: { error: { code, message, requestId } }.
 * A 500 says "internal error" and the request id, nothing more; the log line
 * carries the error's name and stack (never its message, which may quote
 * untrusted input such as a ClickHouse parse error).
 */
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AppError, ErrorCode, codeToStatus, isAppError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { WarehouseError } from '../storage/warehouse.ts';
import type { Env } from './types.ts';

export function errorResponse(c: Context<Env>, err: AppError, extra: Record<string, unknown> = {}): Response {
  if (err.retryAfter !== undefined) c.header('Retry-After', String(err.retryAfter));
  c.header('Cache-Control', 'no-store');
  return c.json(
    { error: { code: err.code, message: err.message, requestId: c.get('requestId') }, ...extra },
    codeToStatus(err.code) as 400,
  );
}

export function onError(logger: Logger): ErrorHandler<Env> {
  return function onError(err, c) {
    if (isAppError(err)) return errorResponse(c, err);
    if (err instanceof WarehouseError && (err.kind === 'unavailable' || err.kind === 'limit')) {
      // The database is slow or away: a retryable 503, not a 500.
      logger.warn({ requestId: c.get('requestId'), route: c.req.routePath, kind: err.kind, clickhouseCode: err.clickhouseCode }, 'warehouse unavailable');
      return errorResponse(c, new AppError(ErrorCode.UNAVAILABLE, 'the database is busy or unreachable; retry shortly', { retryAfter: 2 }));
    }
    if (err instanceof WarehouseError && (err.kind === 'argument' || err.kind === 'data')) {
      // A bound value the engine refused (bad argument, type mismatch, unparseable): the request's
      // mistake, not an outage (no page for on-call). Logged with the engine's code, so a bug of ours still shows.
      logger.warn({ requestId: c.get('requestId'), route: c.req.routePath, kind: err.kind, clickhouseCode: err.clickhouseCode }, 'database refused an argument');
      return errorResponse(c, new AppError(ErrorCode.BAD_REQUEST, 'the database refused a value in this request'));
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code = err.status === 413 ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.BAD_REQUEST;
      return errorResponse(c, new AppError(code, code === ErrorCode.PAYLOAD_TOO_LARGE ? 'request too large' : 'bad request'));
    }
    logger.error(
      {
        requestId: c.get('requestId'),
        route: c.req.routePath,
        errName: err instanceof Error ? err.name : typeof err,
        stack: err instanceof Error ? err.stack?.split('\n').slice(1, 8).join('\n') : undefined,
      },
      'unhandled error',
    );
    return errorResponse(c, new AppError(ErrorCode.INTERNAL, 'internal error'));
  };
}

export function notFound(c: Context<Env>): Response {
  return errorResponse(c, new AppError(ErrorCode.NOT_FOUND, 'no such route'));
}
