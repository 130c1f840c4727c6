/**
 * The form of a tenant id Palisade issues: `ten_` and 12 base62 characters
 * (~71 bits from a CSPRNG; src/control/tenant-id.ts makes them). Routes check
 * a tenant id against it before any lookup, so a malformed one is a plain 404
 * and never reaches SQL, and the storage guard refuses a batch for any other
 * form. Here, with the row schema, so that storage can use it too.
 */
export const TENANT_ID_PREFIX = 'ten_';
export const TENANT_ID_LENGTH = 12;

/** The id without anchors, for patterns that embed it (a path prefix). */
export const TENANT_ID_SOURCE = `${TENANT_ID_PREFIX}[0-9A-Za-z]{${TENANT_ID_LENGTH}}`;
export const TENANT_ID = new RegExp(`^${TENANT_ID_SOURCE}$`);
