/**
 * The admin listener's credential: the admin token as a Bearer (or Basic)
 * credential. Each admin route group declares it (`app.use('/admin/*',
 * adminToken(token))`), so a group mounted on its own is protected too; when
 * several groups share one app, the token is compared once per request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError, ErrorCode } from '../../errors/index.ts';
import { credentialFromHeader } from '../credentials.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function adminToken(token: string): MiddlewareHandler<Env> {
  const expected = digest(token);
  return async function adminToken(c, next) {
    if (c.get('adminAuthenticated')) return next();
    const presented = credentialFromHeader(requestHeader(c, 'authorization'));
    // Compare digests so length differences leak nothing and timing is constant.
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      throw new AppError(ErrorCode.UNAUTHORIZED, 'admin token required (Authorization: Bearer <token>)');
    }
    c.set('adminAuthenticated', true);
    await next();
  };
}
