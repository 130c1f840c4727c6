/**
 * A tenant's data as JSON lines, for the customer before they leave: one
 * `tenant` line (with its keys' metadata, never their hashes, and its
 * settings), then its events (each messageId once), then its dead letters,
 * then an `end` line with the counts so a truncated download is detectable.
 * Read a page at a time (keyset on timestamp, message id), so memory stays
 * flat whatever the tenant's size.
 *
 * One call is bounded like one query, so an export cannot hold the engine or
 * a connection for minutes: it stops after EXPORT_LIMITS.maxEvents events,
 * maxBytes bytes or the tenant's query time limit, whichever comes first,
 * and its `end` line then says `complete: false` with a `next` cursor; the
 * caller asks again with `?after=<next>` for the following part. Dead
 * letters come with the last part. Every page goes through the tenant's fair
 * turn and caps (`warehouse` from QueryService.openRead).
 */
import type { ControlPlane } from '../control/control-plane.ts';
import type { TenantRead } from '../query/service.ts';
import { decodeCursor, encodeCursor, type Position } from '../query/cursor.ts';
import type { Warehouse } from '../storage/warehouse.ts';

// ~5k events of ~1 KB: a few MB per page, one engine statement of tens of ms.
const PAGE = 5_000;

/** Per export call. 100k events and 64 MiB: the node's default result limits for one query. */
export const EXPORT_LIMITS = { maxEvents: 100_000, maxBytes: 64 << 20 };

export interface ExportOptions {
  /** The `next` cursor of the previous part; absent: from the first event. */
  after?: string;
  /** Wall-clock budget of this call (the tenant's query time limit). */
  maxMs: number;
  maxEvents?: number;
  maxBytes?: number;
  now?: () => number;
}

const FIRST: Position = { ts: '1900-01-01 00:00:00.000', messageId: '' };

type EventRow = Record<string, unknown> & { timestamp: string; message_id: string };

function page(wh: Warehouse, tenantId: string, after: Position): Promise<EventRow[]> {
  return wh.query<EventRow>(
    `SELECT * FROM events FINAL WHERE tenant_id = {t:String} AND (timestamp, message_id) > ({ts:DateTime64(3)}, {id:String})
     ORDER BY timestamp, message_id LIMIT {lim:UInt32}`,
    { params: { t: tenantId, ts: after.ts, id: after.messageId, lim: PAGE } },
  );
}

/**
 * The first page is read before the first line is yielded, so a refusal
 * (429 over the caps, 422 over rows to read) reaches the caller as a status,
 * not as a cut-off 200.
 */
export async function* exportTenant(wh: Warehouse, control: ControlPlane, tenantId: string, o: ExportOptions): AsyncGenerator<string> {
  const now = o.now ?? Date.now;
  const started = now();
  const maxEvents = o.maxEvents ?? EXPORT_LIMITS.maxEvents;
  const maxBytes = o.maxBytes ?? EXPORT_LIMITS.maxBytes;
  let position = o.after ? decodeCursor(o.after, tenantId) : FIRST;
  let rows = await page(wh, tenantId, position);
  const tenant = await control.getTenant(tenantId);
  const keys = await control.listKeys(tenantId);
  const settings = await wh.query<{ retention_days: number }>('SELECT retention_days FROM tenant_settings FINAL WHERE tenant_id = {t:String}', {
    params: { t: tenantId },
  });
  yield JSON.stringify({ record: 'tenant', exportedAt: new Date().toISOString(), tenant, keys, retentionDays: Number(settings[0]?.retention_days ?? 0) }) + '\n';

  let events = 0;
  let bytes = 0;
  for (;;) {
    for (const r of rows) {
      const line = JSON.stringify({ record: 'event', data: r }) + '\n';
      bytes += Buffer.byteLength(line);
      events++;
      yield line;
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < PAGE) break;
    position = { ts: last.timestamp, messageId: last.message_id };
    if (events >= maxEvents || bytes >= maxBytes || now() - started >= o.maxMs) {
      yield JSON.stringify({ record: 'end', events, deadLetters: 0, complete: false, next: encodeCursor(position, tenantId) }) + '\n';
      return;
    }
    rows = await page(wh, tenantId, position);
  }

  const dead = await wh.query<Record<string, unknown>>('SELECT at, message_id, reason, row FROM dead_letters WHERE tenant_id = {t:String} ORDER BY at', {
    params: { t: tenantId },
  });
  for (const d of dead) yield JSON.stringify({ record: 'dead_letter', data: d }) + '\n';
  yield JSON.stringify({ record: 'end', events, deadLetters: dead.length, complete: true }) + '\n';
}

/**
 * Starts `lines` (so its first statement's refusal is thrown here) and
 * returns a generator of all its lines that calls `release` once, however
 * the stream ends: finished, failed or cancelled by the client.
 */
export async function primedExport(lines: AsyncGenerator<string>, release: () => void): Promise<AsyncGenerator<string>> {
  let first: IteratorResult<string>;
  try {
    first = await lines.next();
  } catch (err) {
    release();
    throw err;
  }
  const all = (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      yield* lines;
    } finally {
      release();
    }
  })();
  // A stream cancelled before its first pull never enters the body above, so its finally would not run.
  const ret = all.return.bind(all);
  all.return = async (value) => {
    release();
    await lines.return(undefined);
    return await ret(value);
  };
  return all;
}

/** Opens a read of one tenant's data under its caps (QueryService.openRead). */
export type OpenTenantRead = (tenantId: string, lane: 'interactive' | 'bulk') => TenantRead;

// Without a query service (tests of the routes alone): the node's default query time limit.
const UNCAPPED_MS = 15_000;

/** `exportTenant` bound to this node's warehouse and control plane, for the export routes. */
export class TenantExports {
  constructor(
    private readonly warehouse: Warehouse,
    private readonly control: ControlPlane,
    /** Each part under the tenant's caps, in the bulk lane of the fair scheduler. */
    private readonly openRead?: OpenTenantRead,
  ) {}

  async open(tenantId: string, after: string | undefined): Promise<AsyncGenerator<string>> {
    const read = this.openRead?.(tenantId, 'bulk') ?? { warehouse: this.warehouse, limits: { timeoutMs: UNCAPPED_MS }, release: () => {} };
    return await primedExport(exportTenant(read.warehouse, this.control, tenantId, { after, maxMs: read.limits.timeoutMs }), read.release);
  }
}
