/**
 * The local write-ahead spool (step 7 of the data flow, docs/architecture.md): the edge acknowledges a
 * request only after `append` resolves, i.e. after its bytes are written and
 * fdatasync'd. Appends that arrive while a write+fsync is in flight wait and
 * share the next one (group commit), so one ~0.4 ms fdatasync serves every
 * request that arrived during the previous one, with no timer adding latency;
 * a group's records are sealed together in one frame (src/spool/record.ts).
 * A record is one append (one request's payload); `read` hands out records,
 * each with the cursor after its frame, and never part of a frame.
 * The flusher reads from its own cursor and `commit`s a checkpoint once the
 * rows landed in ClickHouse; segments wholly before the checkpoint are deleted.
 */
import { mkdir, unlink } from 'node:fs/promises';
import type { TimeSlice } from '../concurrency/time-slice.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { FRAME_OVERHEAD, MAX_PAYLOAD_BYTES, openFrame, RECORD_LEN_BYTES, RecordAuthError, sealFrame } from './record.ts';
import { recoverSegments, type RecoveryReport } from './recovery.ts';
import {
  compareCursor, createSegment, lowerBound, quarantineBytes, readBytes, segmentName, writeCheckpoint,
  type ActiveSegment, type Cursor, type SegmentState,
} from './segment-files.ts';

export type { RecoveryReport } from './recovery.ts';
export type { Cursor } from './segment-files.ts';

export interface SpoolOptions {
  dir: string;
  /** keyId → 32-byte AES-256 key; every key id still named by a segment on disk must be present. */
  keys: ReadonlyMap<string, Buffer>;
  currentKeyId: string;
  /** 64 MiB: a segment is deleted only whole, so this bounds the space a checkpoint cannot free yet. */
  segmentBytes?: number;
  /** Unflushed bytes at which appends are refused with SPOOL_FULL. */
  maxBytes?: number;
  /** Benchmark only: skip fdatasync. An acknowledged event may then be lost in a crash. */
  fsync?: boolean;
  /**
   * Least time between the starts of two group commits (default 2 ms): under
   * load an fsync then carries a few ms of appends instead of one or two, and
   * an acknowledgement waits at most this much longer. 0: back to back.
   */
  groupCommitMs?: number;
  /** Retry-After sent with SPOOL_FULL. */
  retryAfterSeconds?: number;
  /**
   * Each group commit that made its appends durable: the seconds from its
   * start (sealing, write, fdatasync) and how many appends it acknowledged.
   * What every ingestion request waits for; a slow disk shows here first.
   */
  onGroupCommit?: (seconds: number, records: number) => void;
  /** Tests only: throw from beforeSync to simulate EIO on write/fsync. */
  faults?: { beforeSync?: () => void };
}

export interface SpoolEntry {
  payload: Buffer;
  /** When the oldest record of this record's frame was appended. */
  appendedAt: number;
  /** Cursor just after this record's frame: commit it once every record of the frame has landed. */
  end: Cursor;
  /** The record's place in its frame (0 for the first; records of one frame share `end`). */
  index: number;
}

export interface SpoolStats {
  bytes: number;
  records: number;
  oldestAppendedAt: number | null;
  segments: number;
  /** fdatasync calls for appends since open: one per group commit, far fewer than appends under load. */
  fsyncs: number;
  /** Frames that failed authentication while being read after open (bit rot), quarantined and skipped. */
  quarantined: number;
}

interface Waiter {
  payload: Buffer;
  appendedAt: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

// What a queued record may add to the spool at most: a frame of its own.
const RECORD_WORST_OVERHEAD = FRAME_OVERHEAD + RECORD_LEN_BYTES;
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
// 1 GiB ≈ 1M typical events: hours of ClickHouse outage at a busy edge's rate, far below the disk.
const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
// 2 ms: fdatasync takes ~0.7 ms of wall time here, so a group waits at most ~1.3 ms more than it
// would back to back, well inside the 25 ms p99 budget, and fsyncs drop from ~1,400 to ≤ 500 a second.
const DEFAULT_GROUP_COMMIT_MS = 2;

export class Spool {
  private queue: Waiter[] = [];
  private queuedBytes = 0;
  private draining: Promise<void> | null = null;
  private failure: Error | null = null;
  private closed = false;
  private active: (ActiveSegment) | null = null;
  private fsyncs = 0;
  private readQuarantined = 0;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly groupCommitMs: number;
  /** performance.now() when the last group commit started. */
  private lastGroupAt = -Infinity;

  private constructor(
    private readonly opts: SpoolOptions,
    private segments: SegmentState[],
    private cp: Cursor,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.groupCommitMs = opts.groupCommitMs ?? DEFAULT_GROUP_COMMIT_MS;
  }

  /** Recovers the directory (torn tail, quarantine) and resumes from the checkpoint. Appends go to a new segment. */
  static async open(opts: SpoolOptions): Promise<{ spool: Spool; report: RecoveryReport }> {
    if (!opts.keys.get(opts.currentKeyId)) throw new Error(`spool key id "${opts.currentKeyId}" is not among the configured keys`);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const { segments, checkpoint, report } = await recoverSegments(opts.dir, opts.keys);
    return { spool: new Spool(opts, segments, checkpoint), report };
  }

  append(payload: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(new AppError(ErrorCode.UNAVAILABLE, 'spool failed to write; it must be reopened', { cause: this.failure }));
    if (this.closed) return Promise.reject(new AppError(ErrorCode.UNAVAILABLE, 'spool is closed'));
    if (payload.length > MAX_PAYLOAD_BYTES) return Promise.reject(new AppError(ErrorCode.PAYLOAD_TOO_LARGE, 'payload too large for the spool'));
    if (this.isFull()) {
      return Promise.reject(new AppError(ErrorCode.SPOOL_FULL, 'spool is full', { retryAfter: this.opts.retryAfterSeconds ?? 5 }));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ payload, appendedAt: Date.now(), resolve, reject });
      this.queuedBytes += payload.length + RECORD_WORST_OVERHEAD;
      // A microtask, not a timer: appends issued in the same tick join the first write.
      this.draining ??= Promise.resolve().then(() => this.drain());
    });
  }

  isFull(): boolean {
    return this.unflushedBytes() + this.queuedBytes >= this.maxBytes;
  }

  checkpoint(): Cursor {
    return { ...this.cp };
  }

  /**
   * Durable records from `cursor` on, in append order, whole frames only
   * (`maxRecords` and `maxBytes` may be passed by the last frame's other
   * records, never split). `next` also skips frames quarantined while reading.
   * With `slice`, decrypting pauses whenever the caller's slice is due.
   */
  async read(cursor: Cursor, limits: { maxRecords?: number; maxBytes?: number; slice?: TimeSlice } = {}): Promise<{ entries: SpoolEntry[]; next: Cursor }> {
    const maxRecords = limits.maxRecords ?? 1000;
    const maxBytes = limits.maxBytes ?? 16 * 1024 * 1024;
    const entries: SpoolEntry[] = [];
    let next = { ...cursor };
    let bytes = 0;
    let taken = 0;
    for (const seg of [...this.segments]) {
      if (seg.seq < cursor.seq) continue;
      const i = seg.seq === cursor.seq ? lowerBound(seg.starts, cursor.offset) : 0;
      const n = seg.starts.length;
      let j = i;
      // Always take one frame even if it alone is over a limit, or the reader would never move.
      while (j < n && taken < maxRecords && (taken === 0 || bytes + seg.ends[j]! - seg.starts[j]! <= maxBytes)) {
        bytes += seg.ends[j]! - seg.starts[j]!;
        taken += recordsIn(seg, j);
        j += 1;
      }
      if (j > i) next = await this.readRange(seg, i, j, entries, limits.slice);
      if (j < n || taken >= maxRecords) break;
    }
    return { entries, next };
  }

  /** Persists `cursor` as the checkpoint (atomically) and deletes the segments wholly before it. */
  async commit(cursor: Cursor): Promise<void> {
    if (compareCursor(cursor, this.cp) < 0) throw new Error('spool checkpoint cannot move backwards');
    if (compareCursor(cursor, this.durableEnd()) > 0) throw new Error('spool checkpoint cannot pass durable records');
    if (compareCursor(cursor, this.cp) === 0) return;
    await writeCheckpoint(this.opts.dir, cursor);
    this.cp = { ...cursor };
    const consumed = (s: SegmentState) =>
      s.sealed && (s.seq < cursor.seq || (s.seq === cursor.seq && lowerBound(s.starts, cursor.offset) >= s.starts.length));
    // Decide synchronously: a rotation may push a segment while the unlinks below await.
    const gone = this.segments.filter(consumed);
    this.segments = this.segments.filter((s) => !consumed(s));
    for (const s of gone) await unlink(s.path).catch(ignoreMissing);
  }

  stats(): SpoolStats {
    let records = 0;
    let oldest: number | null = null;
    for (const s of this.segments) {
      const first = s.seq === this.cp.seq ? lowerBound(s.starts, this.cp.offset) : s.seq > this.cp.seq ? 0 : s.starts.length;
      records += recordsBefore(s, s.starts.length) - recordsBefore(s, first);
      if (oldest === null && first < s.times.length) oldest = s.times[first] ?? null;
    }
    return { bytes: this.unflushedBytes(), records, oldestAppendedAt: oldest, segments: this.segments.length, fsyncs: this.fsyncs, quarantined: this.readQuarantined };
  }

  /** Finishes the group commit in flight (its waiters are answered), then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
    const a = this.active;
    this.active = null;
    if (a) {
      a.sealed = true;
      if (this.opts.fsync === false && !this.failure) await a.fd.datasync();
      await a.fd.close();
    }
  }

  private unflushedBytes(): number {
    let total = 0;
    for (const s of this.segments) total += Math.max(0, s.size - (s.seq === this.cp.seq ? this.cp.offset : 0));
    return total;
  }

  /** Reports a durable group; the observer (a metric) can never fail the spool or its acknowledgements. */
  private observeGroup(seconds: number, records: number): void {
    try {
      this.opts.onGroupCommit?.(seconds, records);
    } catch {
      /* the group is durable and acknowledged whatever a metric does */
    }
  }

  private durableEnd(): Cursor {
    const last = this.segments[this.segments.length - 1];
    return last ? { seq: last.seq, offset: last.size } : this.cp;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) {
      // Spread group commits: appends arriving meanwhile join this group (close() does not wait).
      const wait = this.lastGroupAt + this.groupCommitMs - performance.now();
      if (wait > 0 && !this.closed) await new Promise((r) => setTimeout(r, wait));
      const started = performance.now();
      this.lastGroupAt = started;
      const batch = this.queue;
      this.queue = [];
      try {
        await this.writeGroup(batch);
        for (const w of batch) w.resolve();
        this.observeGroup((performance.now() - started) / 1000, batch.length);
      } catch (err) {
        // Never acknowledge what may not be durable: fail this group and everything queued behind it.
        this.failure = err instanceof Error ? err : new Error(String(err));
        const reason = new AppError(ErrorCode.UNAVAILABLE, 'spool failed to write the events durably', { cause: this.failure });
        for (const w of [...batch, ...this.queue]) w.reject(reason);
        this.queue = [];
      }
      this.queuedBytes = this.queue.reduce((n, w) => n + w.payload.length + RECORD_WORST_OVERHEAD, 0);
    }
    this.draining = null;
  }

  /**
   * Seals the waiters' records into frames at their final offsets (one frame
   * for the group unless a frame would pass MAX_PAYLOAD_BYTES or the segment
   * its size) and makes them durable with one write+fsync per segment touched.
   */
  private async writeGroup(batch: Waiter[]): Promise<void> {
    let seg = await this.activeSegment();
    let frames: Sealed[] = [];
    let pos = seg.size;
    let members: Waiter[] = [];
    let bytes = FRAME_OVERHEAD;
    const seal = () => {
      if (members.length === 0) return;
      const frame = sealFrame({ key: seg.key, headerBytes: seg.headerBytes, offset: pos, appendedAt: members[0]!.appendedAt, records: members.map((w) => w.payload) });
      frames.push({ frame, appendedAt: members[0]!.appendedAt, records: members.length });
      pos += frame.length;
      members = [];
      bytes = FRAME_OVERHEAD;
    };
    for (const w of batch) {
      const add = RECORD_LEN_BYTES + w.payload.length;
      const pastSegment = pos + bytes + add > this.segmentBytes;
      if (members.length > 0 && (pastSegment || bytes - FRAME_OVERHEAD + add > MAX_PAYLOAD_BYTES)) seal();
      // A record alone larger than a segment still goes into one (an empty one), as before.
      if (pastSegment && pos > seg.headerBytes.length) {
        await this.persist(seg, frames);
        seg = await this.rotate();
        frames = [];
        pos = seg.size;
      }
      members.push(w);
      bytes += add;
    }
    seal();
    await this.persist(seg, frames);
  }

  private async persist(seg: ActiveSegment, frames: Sealed[]): Promise<void> {
    if (frames.length === 0) return;
    const buf = Buffer.concat(frames.map((f) => f.frame));
    let written = 0;
    while (written < buf.length) {
      const { bytesWritten } = await seg.fd.write(buf, written, buf.length - written, seg.size + written);
      written += bytesWritten;
    }
    this.opts.faults?.beforeSync?.();
    if (this.opts.fsync !== false) {
      await seg.fd.datasync();
      this.fsyncs += 1;
    }
    // Index only now: read() must never hand out a record that is not yet durable.
    let at = seg.size;
    for (const f of frames) {
      seg.starts.push(at);
      seg.ends.push(at + f.frame.length);
      seg.times.push(f.appendedAt);
      seg.recordsThrough.push(recordsBefore(seg, seg.recordsThrough.length) + f.records);
      at += f.frame.length;
    }
    seg.size = at;
  }

  private async activeSegment(): Promise<ActiveSegment> {
    if (this.active && this.active.keyId === this.opts.currentKeyId) return this.active;
    return await this.rotate();
  }

  /** Seals the current segment and starts the next. */
  private async rotate(): Promise<ActiveSegment> {
    if (this.active) {
      this.active.sealed = true;
      await this.active.fd.close();
      this.active = null;
    }
    const last = this.segments[this.segments.length - 1];
    const keyId = this.opts.currentKeyId;
    const key = this.opts.keys.get(keyId);
    if (!key) throw new Error('current spool key vanished');
    const seg = await createSegment(this.opts.dir, Math.max(last?.seq ?? 0, this.cp.seq) + 1, keyId, key);
    this.segments.push(seg);
    this.active = seg;
    return seg;
  }

  private async readRange(seg: SegmentState, i: number, j: number, out: SpoolEntry[], slice?: TimeSlice): Promise<Cursor> {
    const from = seg.starts[i]!;
    const to = seg.ends[j - 1]!;
    const buf = await readBytes(seg.path, from, to);
    for (let k = i; k < j; k++) {
      // The flusher's slice: a cycle decrypts megabytes on the request thread, so requests interleave.
      await slice?.maybePause();
      const start = seg.starts[k]!;
      const end = seg.ends[k]!;
      const frame = buf.subarray(start - from, end - from);
      try {
        const { records, appendedAt } = openFrame(seg.key, seg.headerBytes, start, frame);
        for (const [index, payload] of records.entries()) out.push({ payload, appendedAt, end: { seq: seg.seq, offset: end }, index });
      } catch (err) {
        if (!(err instanceof RecordAuthError)) throw err;
        // Authenticated at open or at write, so the disk changed it since: keep the bytes, skip the record.
        await quarantineBytes(this.opts.dir, `${segmentName(seg.seq)}.${start}.bad`, Buffer.from(frame));
        this.readQuarantined += 1;
      }
    }
    return { seq: seg.seq, offset: seg.ends[j - 1]! };
  }
}

interface Sealed {
  frame: Buffer;
  appendedAt: number;
  records: number;
}

/** Records in the segment's frames before frame `i`. */
function recordsBefore(seg: SegmentState, i: number): number {
  return i === 0 ? 0 : seg.recordsThrough[i - 1]!;
}

function recordsIn(seg: SegmentState, i: number): number {
  return seg.recordsThrough[i]! - recordsBefore(seg, i);
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
