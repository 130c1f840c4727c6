/**
 * Fault-test traffic: a steady stream of /v1/batch requests with known
 * messageIds, and a ledger of which requests were acknowledged (200). After
 * the fault and the recovery, `verifyLedger` reads what landed in ClickHouse
 * and checks the promise: every acknowledged event is there exactly once, and
 * a request that was not acknowledged landed whole or not at all (a spool
 * record is one request, so nothing is ever half-written).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Warehouse } from '../../src/storage/warehouse.ts';
import type { Palisade } from './palisade.ts';

export interface SentRequest {
  ids: string[];
  acked: boolean;
  /** Attempts made (a retrying client sends the same body again). */
  attempts: number;
}

export interface TrafficOptions {
  /** The server to send to now (it changes when a test restarts it); undefined while it is down. */
  target: () => Palisade | undefined;
  headers: Record<string, string>;
  concurrency?: number;
  /** Events per request. */
  batch?: number;
  /** Pause between a worker's requests. */
  pauseMs?: number;
  /** Retry a request that got no 200 with the same body (as SDKs do) until it is acknowledged or the traffic stops. */
  retry?: boolean;
  /** Bytes of filler per event, to fill a spool faster. */
  padding?: number;
  /** Longest wait honoured from a Retry-After header. */
  maxRetryAfterMs?: number;
}

/** Traffic started and not yet stopped (see stopAllTraffic). */
const active = new Set<Traffic>();

/**
 * Stops every Traffic still running. A test that fails between start() and
 * stop() leaves its workers sending to a server that is gone, every 20 ms,
 * for ever: the file would never end (helpers/drill.ts killAll calls this).
 */
export async function stopAllTraffic(): Promise<void> {
  await Promise.all([...active].map((t) => t.stop()));
}

export class Traffic {
  readonly requests: SentRequest[] = [];
  readonly acked = new Set<string>();
  readonly statuses: Record<string, number> = {};
  /** Retry-After values seen on 503 responses. */
  readonly retryAfter: string[] = [];
  /** Error codes seen in non-200 bodies. */
  readonly errorCodes: Record<string, number> = {};
  private running = false;
  private workers: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly o: TrafficOptions) {}

  start(): this {
    this.running = true;
    active.add(this);
    for (let i = 0; i < (this.o.concurrency ?? 2); i++) this.workers.push(this.worker(i));
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    active.delete(this);
    await Promise.all(this.workers);
    this.workers = [];
  }

  /** Resolves once `n` more events have been acknowledged (or throws after `timeoutMs`). */
  async waitForAcks(n: number, timeoutMs: number): Promise<void> {
    const target = this.acked.size + n;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.size < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.acked.size} of ${target} events acknowledged after ${timeoutMs} ms; statuses ${JSON.stringify(this.statuses)}`);
      await sleep(20);
    }
  }

  private body(ids: string[]): unknown {
    const pad = this.o.padding ? 'x'.repeat(this.o.padding) : undefined;
    return {
      batch: ids.map((messageId, i) => ({
        type: 'track',
        event: 'Fault Drill',
        userId: `u${i}`,
        messageId,
        properties: { n: i, ...(pad ? { pad } : {}) },
      })),
    };
  }

  private count(key: string): void {
    this.statuses[key] = (this.statuses[key] ?? 0) + 1;
  }

  private async worker(w: number): Promise<void> {
    while (this.running) {
      const req: SentRequest = { ids: Array.from({ length: this.o.batch ?? 10 }, () => `${w}-${this.seq++}-${randomUUID()}`), acked: false, attempts: 0 };
      this.requests.push(req);
      const body = this.body(req.ids);
      do {
        const p = this.o.target();
        if (!p) {
          await sleep(20);
          continue;
        }
        req.attempts += 1;
        let wait = 20;
        try {
          const r = await p.api<{ error?: { code: string } }>('POST', '/v1/batch', { body, headers: this.o.headers });
          this.count(String(r.status));
          if (r.status === 200) {
            req.acked = true;
            for (const id of req.ids) this.acked.add(id);
          } else {
            const code = r.body?.error?.code ?? 'none';
            this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
            const ra = r.headers['retry-after'];
            if (typeof ra === 'string') {
              this.retryAfter.push(ra);
              wait = Math.min(Number(ra) * 1000, this.o.maxRetryAfterMs ?? 200);
            }
          }
        } catch {
          this.count('error');
        }
        if (!req.acked) await sleep(wait);
      } while (!req.acked && this.o.retry && this.running);
      if (this.o.pauseMs) await sleep(this.o.pauseMs);
    }
  }
}

export interface LedgerResult {
  acknowledged: number;
  landed: number;
  duplicates: number;
  lost: number;
  /** Requests never acknowledged, and of those how many landed whole. */
  unacknowledgedRequests: number;
  unacknowledgedLandedWhole: number;
  halfWritten: number;
  line: string;
}

/**
 * Reads every row the tenants have (no FINAL, so a physical duplicate the
 * engine has not merged away yet still counts) and checks the ledger.
 * `exclude` are ids deliberately destroyed by the test (a torn or flipped record).
 */
export async function verifyLedger(
  wh: Warehouse,
  tenantIds: string[],
  requests: readonly SentRequest[],
  o: { exclude?: ReadonlySet<string> } = {},
): Promise<LedgerResult> {
  const rows = await wh.query<{ message_id: string; c: number }>(
    'SELECT message_id, count() AS c FROM events WHERE tenant_id IN {t:Array(String)} GROUP BY message_id',
    { params: { t: tenantIds }, timeoutMs: 60_000 },
  );
  const landed = new Map(rows.map((r) => [r.message_id, Number(r.c)]));
  const sent = new Set(requests.flatMap((r) => r.ids));
  const strangers = [...landed.keys()].filter((id) => !sent.has(id));
  assert.deepEqual(strangers.slice(0, 5), [], 'rows landed that no request sent');
  let acknowledged = 0;
  let landedAcked = 0;
  let unacked = 0;
  let unackedWhole = 0;
  let half = 0;
  for (const r of requests) {
    const ids = r.ids.filter((id) => !o.exclude?.has(id));
    const present = ids.filter((id) => landed.has(id)).length;
    if (r.acked) {
      acknowledged += ids.length;
      landedAcked += present;
    } else {
      unacked += 1;
      if (present === ids.length && present > 0) unackedWhole += 1;
      else if (present > 0) half += 1;
    }
  }
  let duplicates = 0;
  for (const c of landed.values()) duplicates += c - 1;
  const lost = acknowledged - landedAcked;
  const line = `acknowledged=${acknowledged} landed=${landedAcked} duplicates=${duplicates} lost=${lost}`;
  return {
    acknowledged, landed: landedAcked, duplicates, lost, unacknowledgedRequests: unacked, unacknowledgedLandedWhole: unackedWhole, halfWritten: half,
    line: `${line} (unacknowledged requests: ${unacked}, of which landed whole: ${unackedWhole}, half-written: ${half})`,
  };
}

/** The checks every fault test ends with. */
export function assertExactlyOnce(r: LedgerResult): void {
  assert.ok(r.acknowledged > 0, 'the drill acknowledged something');
  assert.equal(r.lost, 0, `acknowledged events lost: ${r.line}`);
  assert.equal(r.duplicates, 0, `events stored twice: ${r.line}`);
  assert.equal(r.halfWritten, 0, `an unacknowledged request was half-written: ${r.line}`);
}

/** Prometheus text → the value of one series (exact name with labels), or undefined. */
export function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export async function scrape(p: Palisade): Promise<string> {
  const r = await p.admin('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  return r.text;
}

/** Stops background merges so a physical duplicate stays visible to the count (server path only). */
export async function holdMerges(wh: Warehouse): Promise<void> {
  await wh.command('SYSTEM STOP MERGES events');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
