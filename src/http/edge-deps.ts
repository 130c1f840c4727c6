/**
 * What the edge hands the HTTP layer: the per-IP and per-key limits, the
 * plain-HTTP refusal, and the tenant edge settings routes' dependencies.
 */
import type { ExposedKey, InsecureTransportDeps } from './insecure-transport.ts';
import type { EdgeLimits } from './middleware/edge-limits.ts';
import type { TenantSettingsDeps } from './routes/tenant-settings.ts';

export type { ExposedKey };

export interface EdgeAppDeps {
  limits: EdgeLimits;
  insecure: InsecureTransportDeps;
  settings: TenantSettingsDeps;
}
