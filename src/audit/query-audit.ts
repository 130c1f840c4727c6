/**
 * One log line and one audit entry per query call, ok or not. Metadata only:
 * never the query's names or values (no customer data in technical logs).
 */
import type { Logger } from '../log/index.ts';
import type { AuditLog } from './audit-log.ts';

/** What one query call leaves behind (the query route reports it as QueryAuditEvent, which narrows the outcome). */
export interface QueryCall {
  requestId: string;
  ip: string;
  tenantId: string | undefined;
  keyId: string | undefined;
  kind: string | undefined;
  rows: number;
  durationMs: number;
  /** 'ok' or the error code the call ended with. */
  outcome: string;
}

export class QueryAuditTrail {
  constructor(
    private readonly audit: Pick<AuditLog, 'record'>,
    private readonly logger: Logger,
  ) {}

  readonly record = (e: QueryCall): void => {
    this.logger.info(e, 'query');
    this.audit.record({
      actor: e.keyId ? `key:${e.keyId}` : 'anonymous',
      tenantId: e.tenantId,
      action: 'query',
      target: e.kind ?? '',
      outcome: e.outcome === 'ok' ? 'ok' : 'failed',
      clientIp: e.ip,
      requestId: e.requestId,
      details: { kind: e.kind ?? null, rows: e.rows, durationMs: e.durationMs, ...(e.outcome === 'ok' ? {} : { error: e.outcome }) },
    });
  };
}
