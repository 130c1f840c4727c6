/**
 * The per-tenant ingestion-warnings ledger: why an event was refused (code,
 * message, index, messageId), never the event. Rows are buffered and written
 * once a second; the ledger is advisory, so when ClickHouse is down the buffer
 * is bounded and the overflow is counted rather than held forever.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import type { Logger } from '../log/index.ts';
import { jsonRow, type Warehouse } from '../storage/warehouse.ts';

export interface Warning {
  tenantId: string;
  requestId: string;
  keyId: string;
  messageId: string;
  index: number;
  code: string;
  message: string;
  at: Date;
}

const MAX_BUFFERED = 10_000;

export class WarningsLedger {
  private buffer: Warning[] = [];
  private timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(
    private readonly wh: Warehouse,
    private readonly logger: Logger,
    private readonly intervalMs = 1_000,
  ) {}

  record(w: Warning): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.dropped++;
      return;
    }
    this.buffer.push(w);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes what is buffered, giving up after `timeoutMs` (shutdown has a deadline; the ledger is advisory). */
  async stop(o: { timeoutMs?: number } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush(o.timeoutMs);
  }

  async flush(timeoutMs = 10_000): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const payload = batch
      .map((w) =>
        jsonRow({
          tenant_id: w.tenantId,
          at: toClickHouseTime(w.at),
          request_id: w.requestId,
          key_id: w.keyId,
          message_id: w.messageId,
          batch_index: w.index,
          code: w.code,
          message: w.message,
        }),
      )
      .join('\n');
    try {
      await this.wh.insertJson('ingestion_warnings', Buffer.from(payload), { timeoutMs: Math.min(10_000, timeoutMs) });
    } catch (err) {
      // Put them back (bounded) for the next tick.
      const room = MAX_BUFFERED - this.buffer.length;
      this.buffer.unshift(...batch.slice(0, Math.max(0, room)));
      this.dropped += Math.max(0, batch.length - room);
      this.logger.warn({ rows: batch.length, errName: (err as Error).name }, 'ingestion warnings not written yet');
    }
  }
}
