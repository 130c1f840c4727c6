/**
 * The events list's page cursor: the (timestamp, messageId) of the last row
 * shown, plus a fingerprint of the tenant it was issued to. The tenant filter
 * is what keeps tenants apart (a cursor is only a position); the fingerprint
 * makes a cursor pasted into another tenant's session fail loudly instead of
 * quietly paging from a foreign position.
 */
import { createHash } from 'node:crypto';
import { CLICKHOUSE_TIME_RE } from '../../schemas/event-row.ts';
import { WIRE_LIMITS } from '../../schemas/wire.ts';
import { AppError, ErrorCode } from '../errors/index.ts';

export interface Position {
  /** ClickHouse DateTime64(3, 'UTC') text. */
  ts: string;
  messageId: string;
}

function fingerprint(tenantId: string): string {
  return createHash('sha256').update(`palisade-cursor:${tenantId}`).digest('base64url').slice(0, 8);
}

export function encodeCursor(p: Position, tenantId: string): string {
  return Buffer.from(JSON.stringify([p.ts, p.messageId, fingerprint(tenantId)])).toString('base64url');
}

export function decodeCursor(cursor: string, tenantId: string): Position {
  const invalid = () => new AppError(ErrorCode.INVALID_CURSOR, 'cursor is not one this API issued to this key\'s tenant; start again without a cursor');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw invalid();
  const [ts, messageId, fp] = parsed as unknown[];
  if (typeof ts !== 'string' || !CLICKHOUSE_TIME_RE.test(ts)) throw invalid();
  if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > WIRE_LIMITS.messageIdLength) throw invalid();
  if (fp !== fingerprint(tenantId)) throw invalid();
  return { ts, messageId };
}
