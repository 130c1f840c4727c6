/**
 * The spool payload format, shared by the flusher and the ingest service
 * that appends to the spool. The dead-letter table's writer is in
 * src/storage/dead-letters.ts (the spool knows files, not ClickHouse).
 */
import type { EventRow } from '../../schemas/event-row.ts';

/** One spool record: one request's accepted rows, all for the tenant of its credential. */
export interface SpoolPayload {
  tenantId: string;
  rows: EventRow[];
}

export class SpoolPayloadError extends Error {
  override name = 'SpoolPayloadError';
}

export function encodeSpoolPayload(tenantId: string, rows: readonly EventRow[]): Buffer {
  return Buffer.from(JSON.stringify({ tenantId, rows }));
}

/**
 * Checks the envelope only; the rows' shape is re-checked by the storage
 * guard in EventWriter right before insert.
 */
export function decodeSpoolPayload(buf: Buffer): SpoolPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new SpoolPayloadError('spool payload is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new SpoolPayloadError('spool payload is not an object');
  const { tenantId, rows } = parsed as Record<string, unknown>;
  if (typeof tenantId !== 'string') throw new SpoolPayloadError('spool payload has no tenantId');
  if (!Array.isArray(rows) || !rows.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
    throw new SpoolPayloadError('spool payload rows are not objects');
  }
  return { tenantId, rows: rows as EventRow[] };
}
