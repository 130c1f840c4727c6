/**
 * The audit trail as the HTTP routes use it: one tenant's entries a page at
 * a time, and the whole chain verified against this node's anchors. Built
 * once in the composition root; the routes never see the warehouse.
 */
import type { OpenTenantRead } from '../ops/tenant-export.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import { readAnchors } from './audit-log.ts';
import { readTrail, verifyAudit, type TrailPage, type VerifyReport } from './trail.ts';

export class AuditTrail {
  constructor(
    private readonly warehouse: Warehouse,
    /** The directory holding this node's audit anchor file. */
    private readonly anchorDir: string,
    /** Tenant reads under the tenant's query caps and fair turn (QueryService.openRead). */
    private readonly openRead?: OpenTenantRead,
  ) {}

  read(tenantId: string, o: { since?: Date; until?: Date; limit: number; after?: string }): Promise<TrailPage> {
    return readTrail(this.warehouse, tenantId, o);
  }

  async readAsTenant(tenantId: string, o: { since?: Date; until?: Date; limit: number; after?: string }): Promise<TrailPage> {
    if (!this.openRead) return await this.read(tenantId, o);
    const read = this.openRead(tenantId, 'interactive');
    try {
      return await readTrail(read.warehouse, tenantId, o);
    } finally {
      read.release();
    }
  }

  async verify(): Promise<VerifyReport> {
    return await verifyAudit(this.warehouse, await readAnchors(this.anchorDir));
  }
}
