/**
 * Ingestion as the HTTP layer sees it: run the pure pipeline, make the
 * accepted rows durable in the spool (the only place that acknowledges), and
 * record the refused ones in the tenant's warnings ledger.
 */
import type { Principal } from '../auth/authenticator.ts';
import type { Config } from '../config/index.ts';
import type { EventType } from '../../schemas/event-row.ts';
import type { Spool } from '../spool/spool.ts';
import { encodeSpoolPayload } from '../spool/payload.ts';
import type { PrivacyContext } from './pii.ts';
import { ingestBody, type Rejection } from './pipeline.ts';
import type { WarningsLedger } from './warnings.ts';

export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string;
  receivedAt: Date;
  /** `DNT: 1` or `Sec-GPC: 1` on the request (honoured only if the tenant chose to). */
  doNotTrack?: boolean;
  /** The JSON body's size in bytes, when the caller measured it (see IngestContext.bodyBytes). */
  bodyBytes?: number;
}

export interface IngestOutcome {
  accepted: number;
  rejected: Rejection[];
}

export class IngestService {
  readonly counters = { accepted: 0, rejected: 0 };
  /** Rejected events by rejection code (a small fixed set), for the metrics. */
  readonly rejectedByCode: Record<string, number> = {};
  /** Events discarded by their tenant's privacy policy (consent, dnt, bot), and bot events kept with is_bot = 1. */
  readonly droppedByReason: Record<string, number> = {};
  readonly privacyCounters = { botsFlagged: 0 };

  constructor(
    private readonly deps: {
      spool: Spool;
      warnings: WarningsLedger;
      limits: Config['limits'];
      /** The tenant's privacy rules for this request; read from the in-memory key table, no I/O. */
      privacy?: (principal: Principal, meta: RequestMeta) => PrivacyContext | undefined;
    },
  ) {}

  async ingest(path: 'batch' | EventType, body: unknown, principal: Principal, meta: RequestMeta): Promise<IngestOutcome> {
    const generatedIds = new Set<string>();
    const { rows, rejected, dropped } = ingestBody(path, body, {
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      requestId: meta.requestId,
      receivedAt: meta.receivedAt,
      ip: meta.ip,
      userAgent: meta.userAgent,
      ...(meta.bodyBytes === undefined ? {} : { bodyBytes: meta.bodyBytes }),
      limits: this.deps.limits,
      privacy: this.deps.privacy?.(principal, meta),
      generatedIds,
    });
    // Durable before acknowledged: this await returns only after fsync. The record holds
    // each row as its INSERT line (the storage guard runs once, while encoding).
    if (rows.length > 0) await this.deps.spool.append(encodeSpoolPayload(principal.tenantId, rows, generatedIds));
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
    for (const r of rejected) this.rejectedByCode[r.code] = (this.rejectedByCode[r.code] ?? 0) + 1;
    for (const [reason, n] of Object.entries(dropped ?? {})) this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + n;
    for (const r of rows) if (r.is_bot === 1) this.privacyCounters.botsFlagged++;
    return { accepted: rows.length, rejected };
  }
}
