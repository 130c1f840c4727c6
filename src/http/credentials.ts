/**
 * Where a credential may come from: the Authorization header (Basic or
 * Bearer), or for browser beacons a publishable `writeKey` in the body. A
 * credential in the URL ends up in proxy and browser logs, so any request
 * whose query string carries something key-shaped is refused outright.
 */
import { AppError, ErrorCode } from '../errors/index.ts';
import { tokenFromBasic } from '../auth/tokens.ts';

const URL_CREDENTIAL_NAMES = new Set(['writekey', 'write_key', 'key', 'api_key', 'apikey', 'token', 'access_token', 'secret', 'password', 'auth']);

export function assertNoCredentialInUrl(url: string): void {
  const q = url.indexOf('?');
  if (q < 0) return;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const [name, value] of params) {
    if (URL_CREDENTIAL_NAMES.has(name.toLowerCase()) || value.includes('pal_sk_') || value.includes('pal_pk_')) {
      throw new AppError(
        ErrorCode.CREDENTIAL_IN_URL,
        'credentials are never accepted in the URL; send them in the Authorization header. Treat this key as exposed and rotate it.',
      );
    }
  }
}

export function credentialFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme === 'basic') {
    let decoded: string;
    try {
      decoded = Buffer.from(value, 'base64').toString('utf8');
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    return user ? tokenFromBasic(user, password) : undefined;
  }
  return undefined;
}

// A secret key's prefix and its 16-character base62 key id: the shape of a real
// key (or the part of one that names it), not just the text "pal_sk_", so a
// page about Palisade's key format can still be tracked.
const SECRET_KEY_IN_TEXT = /^pal_sk_[0-9A-Za-z]{16}$/;
const SECRET_PREFIX = Buffer.from('pal_sk_');
const SECRET_KEY_HEAD = 'pal_sk_'.length + 16;

function secretKeyRefused(): AppError {
  return new AppError(
    ErrorCode.FORBIDDEN,
    'a secret key was found in the request body: secret keys go only in the Authorization header, never in a body (browser pages use the publishable key). Treat this key as exposed and rotate it.',
  );
}

/**
 * Refuses a body that carries a secret key anywhere (a field, a per-event
 * `writeKey`, a property value, a key name): a secret key in a body ends up in
 * page source, beacons, event data and exports, so it is treated as exposed.
 * One exception, so Segment's own server SDK works unchanged
 * (@segment/analytics-node sends `{"batch":[…],"writeKey":"<key>"}` beside
 * `Authorization: Basic <key>:`): the very key that authenticated the request
 * in its header, once, as the top-level `writeKey` of a batch body. The
 * exception is as narrow as that client needs: a single-event body with a
 * secret `writeKey` is still refused. That copy went over
 * the same TLS connection as the header, is never stored (the batch envelope
 * is not an event) and exposes nothing the header did not. The answer says
 * whether that exception applies; the caller checks, after parsing, that the
 * key really is the top-level `writeKey` (`assertEnvelopeKey`).
 *
 * Scans the decoded bytes before JSON.parse: Buffer.indexOf is a memchr-speed
 * search, so a body with no "pal_sk_" costs one pass and nothing else. A key
 * hidden with JSON escapes (`pal\u005fsk_…`) is not found: the check protects
 * a careless client, not a hostile one, who can only leak its own key.
 */
export function scanBodyForSecretKeys(bytes: Buffer, headerToken?: string): 'none' | 'envelope' {
  let found = 0;
  let at = bytes.indexOf(SECRET_PREFIX);
  for (; at >= 0; at = bytes.indexOf(SECRET_PREFIX, at + 1)) {
    if (!SECRET_KEY_IN_TEXT.test(bytes.toString('latin1', at, at + SECRET_KEY_HEAD))) continue;
    const isHeaderKey =
      headerToken !== undefined && bytes.toString('latin1', at, at + headerToken.length) === headerToken && bytes[at + headerToken.length] === 0x22; // '"'
    if (!isHeaderKey || ++found > 1) throw secretKeyRefused();
  }
  return found === 1 ? 'envelope' : 'none';
}

/** After `scanBodyForSecretKeys` said 'envelope': the one secret key must be the top-level `writeKey` of a batch body. */
export function assertEnvelopeKey(body: unknown, headerToken: string | undefined): void {
  const envelope = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (headerToken === undefined || envelope?.writeKey !== headerToken || !Array.isArray(envelope.batch)) throw secretKeyRefused();
}

/** A publishable key in the body (`writeKey`), as beacons send it. Secret keys are never accepted there. */
export function credentialFromBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const writeKey = (body as Record<string, unknown>).writeKey;
  if (typeof writeKey !== 'string') return undefined;
  if (!writeKey.startsWith('pal_pk_')) {
    throw new AppError(ErrorCode.FORBIDDEN, 'only publishable browser keys may be sent in the body; send secret keys in the Authorization header and rotate this one');
  }
  return writeKey;
}
