/**
 * A route's JSON body, read once per request and shared through the context:
 * the key-auth middleware may need it (a `writeKey` in the body) before the
 * handler does, and a request body can be read only once.
 */
import type { Context } from 'hono';
import { assertJsonContentType, readJsonBody, type BodyLimits } from '../body.ts';
import { credentialFromHeader } from '../credentials.ts';
import type { Env } from '../types.ts';
import { requestHeader } from '../request-headers.ts';

/**
 * `anyLabel`: the tracking routes take a JSON body whatever its Content-Type
 * label (Segment- and RudderStack-style clients send text/plain,
 * form-urlencoded or none); the body decides. Otherwise the label must say
 * JSON (or text/plain when `allowTextPlain`).
 *
 * The reader's second argument is the Authorization header's credential when
 * the caller has already read it (key auth does), so it is not decoded twice
 * per request.
 */
export function sharedJsonBody(o: { limits: BodyLimits; allowTextPlain: boolean; anyLabel?: boolean }): (c: Context<Env>, headerToken?: string) => Promise<unknown> {
  const anyLabel = o.anyLabel === true;
  return function jsonBody(c, knownToken) {
    let body = c.get('jsonBody');
    if (!body) {
      body = (async () => {
        if (!anyLabel) assertJsonContentType(c.req.raw, o.allowTextPlain);
        const headerToken = knownToken ?? credentialFromHeader(requestHeader(c, 'authorization'));
        return await readJsonBody(c.req.raw, o.limits, c.env?.incoming, { anyLabel, headerToken, onBytes: (n) => c.set('jsonBodyBytes', n) });
      })();
      c.set('jsonBody', body);
    }
    return body;
  };
}
