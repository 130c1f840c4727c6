/**
 * New tenant ids, in the one form (schemas/tenant-id.ts) every route and the
 * storage guard check against.
 */
import { TENANT_ID_LENGTH, TENANT_ID_PREFIX } from '../../schemas/tenant-id.ts';
import { randomBase62 } from '../auth/base62.ts';

export { TENANT_ID, TENANT_ID_SOURCE } from '../../schemas/tenant-id.ts';

export function newTenantId(): string {
  return `${TENANT_ID_PREFIX}${randomBase62(TENANT_ID_LENGTH)}`;
}
