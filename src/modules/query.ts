/**
 * The read lane: one query service for tenants and for support-granted
 * operators, so both share one concurrency limiter over the engine's
 * connections; every call leaves a log line and an audit entry.
 */
import type { AuditLog } from '../audit/audit-log.ts';
import { QueryAuditTrail } from '../audit/query-audit.ts';
import type { KeyTable } from '../auth/key-table.ts';
import type { Config } from '../config/index.ts';
import type { SupportQueryOutcome } from '../http/routes/governance-common.ts';
import type { Logger } from '../log/index.ts';
import type { StageMetrics } from '../metrics/stage-metrics.ts';
import { QueryService } from '../query/service.ts';
import type { Warehouse } from '../storage/warehouse.ts';
import type { Module } from '../runner.ts';

export class QueryModule implements Module {
  readonly name = 'query';
  readonly service: QueryService;
  readonly trail: QueryAuditTrail;

  constructor(o: { config: Config; logger: Logger; warehouse: Warehouse; keys: Pick<KeyTable, 'tenant'>; audit: Pick<AuditLog, 'record'>; stages: Pick<StageMetrics, 'query'> }) {
    // Each tenant's own caps ride with the key table, so a query's admission reads no database.
    this.service = new QueryService({ warehouse: o.warehouse, limits: o.config.query, caps: (id) => o.keys.tenant(id)?.settings?.query, observe: o.stages.query });
    this.trail = new QueryAuditTrail(o.audit, o.logger);
  }

  /** The structured query of /v1/query, run for one tenant on an operator's behalf (under a support grant). */
  readonly supportQuery = async (tenantId: string, body: unknown): Promise<SupportQueryOutcome> => {
    const o = await this.service.run({ tenantId, keyId: 'support', scope: 'query' }, body);
    return { kind: o.kind, rows: o.rows, result: o.result };
  };
}
