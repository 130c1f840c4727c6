/**
 * The form of a tenant id Palisade issues: `ten_` and 12 base62 characters
 * (~71 bits from a CSPRNG). Routes check a tenant id against it before any
 * lookup, so a malformed one is a plain 404 and never reaches SQL.
 */
import { randomBase62 } from '../auth/base62.ts';

const PREFIX = 'ten_';
const LENGTH = 12;

/** The id without anchors, for patterns that embed it (a path prefix). */
export const TENANT_ID_SOURCE = `${PREFIX}[0-9A-Za-z]{${LENGTH}}`;
export const TENANT_ID = new RegExp(`^${TENANT_ID_SOURCE}$`);

export function newTenantId(): string {
  return `${PREFIX}${randomBase62(LENGTH)}`;
}
