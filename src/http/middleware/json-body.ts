/**
 * A route's JSON body, read once per request and shared through the context:
 * the key-auth middleware may need it (a `writeKey` in the body) before the
 * handler does, and a request body can be read only once.
 */
import type { Context } from 'hono';
import { assertJsonContentType, readJsonBody, type BodyLimits } from '../body.ts';
import type { Env } from '../types.ts';

export function sharedJsonBody(o: { limits: BodyLimits; allowTextPlain: boolean }): (c: Context<Env>) => Promise<unknown> {
  return function jsonBody(c) {
    let body = c.get('jsonBody');
    if (!body) {
      body = (async () => {
        assertJsonContentType(c.req.raw, o.allowTextPlain);
        return await readJsonBody(c.req.raw, o.limits, c.env?.incoming);
      })();
      c.set('jsonBody', body);
    }
    return body;
  };
}
