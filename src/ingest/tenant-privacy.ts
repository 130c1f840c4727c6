/**
 * The ingest pipeline's privacy step for one request: the tenant's settings
 * from the in-memory key table and its pseudonymisation key. No I/O: it runs
 * on the request lane once per request.
 */
import { DEFAULT_TENANT_SETTINGS } from '../../schemas/tenant-settings.ts';
import type { Principal } from '../auth/authenticator.ts';
import type { KeyTable } from '../auth/key-table.ts';
import type { PiiKeys } from '../secrets/provider.ts';
import type { PrivacyContext } from './pii.ts';
import type { RequestMeta } from './service.ts';

export class TenantPrivacy {
  constructor(
    private readonly keys: Pick<KeyTable, 'tenant'>,
    private readonly piiKeys: Pick<PiiKeys, 'forTenant'>,
  ) {}

  readonly forRequest = (principal: Principal, meta: RequestMeta): PrivacyContext => {
    const settings = this.keys.tenant(principal.tenantId)?.settings ?? DEFAULT_TENANT_SETTINGS;
    return {
      settings,
      // The scrubber hashes ids that hold personal data, so it needs the key too.
      hashKey: settings.piiHash.length > 0 || settings.scrubPii ? this.piiKeys.forTenant(principal.tenantId) : undefined,
      doNotTrack: meta.doNotTrack ?? false,
      browser: principal.scope === 'browser',
    };
  };
}
