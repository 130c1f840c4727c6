/**
 * Ingestion as the HTTP layer sees it: run the pure pipeline, make the
 * accepted rows durable in the spool (the only place that acknowledges), and
 * record the refused ones in the tenant's warnings ledger.
 */
import type { Principal } from '../auth/authenticator.ts';
import type { Config } from '../config/index.ts';
import type { EventType } from '../../schemas/event-row.ts';
import type { Spool } from '../spool/spool.ts';
import { encodeSpoolPayload } from '../spool/flusher.ts';
import { ingestBody, type Rejection } from './pipeline.ts';
import type { WarningsLedger } from './warnings.ts';

export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string;
  receivedAt: Date;
}

export interface IngestOutcome {
  accepted: number;
  rejected: Rejection[];
}

export class IngestService {
  readonly counters = { accepted: 0, rejected: 0 };

  constructor(
    private readonly deps: { spool: Spool; warnings: WarningsLedger; limits: Config['limits'] },
  ) {}

  async ingest(path: 'batch' | EventType, body: unknown, principal: Principal, meta: RequestMeta): Promise<IngestOutcome> {
    const { rows, rejected } = ingestBody(path, body, {
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      requestId: meta.requestId,
      receivedAt: meta.receivedAt,
      ip: meta.ip,
      userAgent: meta.userAgent,
      limits: this.deps.limits,
    });
    // Durable before acknowledged: this await returns only after fsync.
    if (rows.length > 0) await this.deps.spool.append(encodeSpoolPayload(principal.tenantId, rows));
    for (const r of rejected) {
      this.deps.warnings.record({
        tenantId: principal.tenantId,
        requestId: meta.requestId,
        keyId: principal.keyId,
        messageId: r.messageId ?? '',
        index: r.index,
        code: r.code,
        message: r.message,
        at: meta.receivedAt,
      });
    }
    this.counters.accepted += rows.length;
    this.counters.rejected += rejected.length;
    return { accepted: rows.length, rejected };
  }
}
