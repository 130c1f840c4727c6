/**
 * Credential formats (docs/architecture.md, "Credentials").
 *   secret key:      pal_sk_<id:16>_<secret:22><crc:6>   (ingest and query scopes)
 *   publishable key: pal_pk_<id:16>                      (browser scope, no secret)
 * 22 base62 characters carry 130 bits from a CSPRNG. The CRC32 lets a
 * mistyped or truncated token fail before any lookup or hash.
 */
import { crc32 } from 'node:zlib';
import { encodeBase62Fixed, isBase62, randomBase62 } from './base62.ts';

export const KEY_ID_LENGTH = 16;
const SECRET_LENGTH = 22;
const CRC_LENGTH = 6; // 62^6 > 2^32

export type Scope = 'ingest' | 'browser' | 'query';
export const SCOPES: readonly Scope[] = ['ingest', 'browser', 'query'];

export function newKeyId(): string {
  return randomBase62(KEY_ID_LENGTH);
}

function checksum(body: string): string {
  return encodeBase62Fixed(crc32(body), CRC_LENGTH);
}

/** Returns the token to show once, and the secret part that gets hashed. */
export function newSecretToken(keyId: string): { token: string; secret: string } {
  const secret = randomBase62(SECRET_LENGTH);
  const body = `pal_sk_${keyId}_${secret}`;
  return { token: `${body}${checksum(body)}`, secret };
}

export function publishableKey(keyId: string): string {
  return `pal_pk_${keyId}`;
}

export type ParsedToken =
  | { kind: 'secret'; keyId: string; secret: string; token: string }
  | { kind: 'publishable'; keyId: string; token: string };

export type ParseFailure = 'malformed' | 'bad_checksum';

export function parseToken(token: string): ParsedToken | ParseFailure {
  if (token.length > 128) return 'malformed';
  if (token.startsWith('pal_pk_')) {
    const keyId = token.slice(7);
    if (keyId.length !== KEY_ID_LENGTH || !isBase62(keyId)) return 'malformed';
    return { kind: 'publishable', keyId, token };
  }
  if (!token.startsWith('pal_sk_')) return 'malformed';
  const rest = token.slice(7);
  const keyId = rest.slice(0, KEY_ID_LENGTH);
  if (rest[KEY_ID_LENGTH] !== '_') return 'malformed';
  const tail = rest.slice(KEY_ID_LENGTH + 1);
  if (tail.length !== SECRET_LENGTH + CRC_LENGTH || !isBase62(keyId) || !isBase62(tail)) return 'malformed';
  const secret = tail.slice(0, SECRET_LENGTH);
  const body = `pal_sk_${keyId}_${secret}`;
  if (checksum(body) !== tail.slice(SECRET_LENGTH)) return 'bad_checksum';
  return { kind: 'secret', keyId, secret, token };
}

/**
 * HTTP Basic carries either the whole token as the user name with an empty
 * password (Segment's convention), or the key id as user and the
 * secret+checksum as password.
 */
export function tokenFromBasic(user: string, password: string): string {
  if (password === '') return user;
  const id = user.startsWith('pal_sk_') ? user.slice(7) : user;
  return `pal_sk_${id}_${password}`;
}
