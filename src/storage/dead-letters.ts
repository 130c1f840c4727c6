/**
 * The dead_letters table: rows the flusher could not insert (a storage guard
 * violation, a payload that no longer decodes), parked with their reason so
 * nothing acknowledged is silently lost.
 */
import { toClickHouseTime } from '../../schemas/event-row.ts';
import type { Warehouse } from './warehouse.ts';

export const GUARD_VIOLATION = 'guard_violation';
export const UNDECODABLE = 'undecodable_payload';
const MAX_REASON_BYTES = 1024;

/** At most 1 KB of UTF-8, cut on a character boundary: ClickHouse messages can quote a whole row. */
export function truncateReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let s = text.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(s) > MAX_REASON_BYTES) s = s.slice(0, -1);
  return s;
}

export interface DeadLetter {
  messageId: string;
  /** The row as JSON, or the raw payload text when it could not be decoded. */
  row: string;
}

export function deadLetterOf(row: unknown): DeadLetter {
  const id = typeof row === 'object' && row !== null ? (row as Record<string, unknown>).message_id : undefined;
  return { messageId: typeof id === 'string' ? id : '', row: JSON.stringify(row) };
}

/**
 * Inserts dead letters for one tenant. `dedupToken` is derived from the spool
 * positions, so a replay after a crash is dropped by the engine instead of
 * parking the same rows twice.
 */
export async function writeDeadLetters(
  wh: Warehouse,
  tenantId: string,
  letters: readonly DeadLetter[],
  reason: string,
  dedupToken: string,
): Promise<void> {
  if (letters.length === 0) return;
  const at = toClickHouseTime(new Date());
  const shortReason = truncateReason(reason);
  const payload = Buffer.from(
    letters.map((l) => JSON.stringify({ tenant_id: tenantId, at, message_id: l.messageId, reason: shortReason, row: l.row })).join('\n'),
  );
  await wh.insertJson('dead_letters', payload, {
    settings: { insert_deduplication_token: `dl:${tenantId}:${dedupToken}`.replace(/[^A-Za-z0-9_.\-]/g, '_') },
  });
}
