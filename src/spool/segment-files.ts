/**
 * The spool's files and the small durable-I/O helpers around them: segment
 * names, the index kept per segment, the checkpoint (atomic replace), the
 * quarantine, and positional reads.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { encodeSegmentHeader } from './record.ts';

/** A position in the spool: the byte offset just after a record, in segment `seq`. */
export interface Cursor {
  seq: number;
  offset: number;
}

export interface SegmentState {
  seq: number;
  path: string;
  headerBytes: Buffer;
  keyId: string;
  key: Buffer;
  /** Bytes known to be on disk (and fsync'd) in this file. */
  size: number;
  /** Index of the authenticated frames: start, end, oldest appendedAt. Quarantined frames are absent. */
  starts: number[];
  ends: number[];
  times: number[];
  /** Records in frames 0..i (a running total, so counting records from any frame on is one subtraction). */
  recordsThrough: number[];
  /** False only for the segment currently receiving appends. */
  sealed: boolean;
}

export const SEGMENT_RE = /^seg-(\d{16})\.log$/;
const CHECKPOINT = 'checkpoint.json';
export const QUARANTINE_DIR = 'quarantine';

export function segmentName(seq: number): string {
  return `seg-${String(seq).padStart(16, '0')}.log`;
}

export function compareCursor(a: Cursor, b: Cursor): number {
  return a.seq !== b.seq ? a.seq - b.seq : a.offset - b.offset;
}

/** The segment receiving appends, with its open file. */
export type ActiveSegment = SegmentState & { fd: FileHandle };

/**
 * Creates segment `seq` with its header written and fdatasync'd, then fsyncs
 * the directory: without that a crash could lose the new file's name even
 * though its records were fdatasync'd and acknowledged.
 */
export async function createSegment(dir: string, seq: number, keyId: string, key: Buffer): Promise<ActiveSegment> {
  const headerBytes = encodeSegmentHeader({ seq, keyId });
  const file = path.join(dir, segmentName(seq));
  const fd = await open(file, 'wx', 0o600);
  try {
    await fd.write(headerBytes, 0, headerBytes.length, 0);
    await fd.datasync();
    await fsyncDir(dir);
  } catch (err) {
    await fd.close();
    throw err;
  }
  return { seq, path: file, headerBytes, keyId, key, size: headerBytes.length, starts: [], ends: [], times: [], recordsThrough: [], sealed: false, fd };
}

/** First index whose value is ≥ x (the index arrays are ascending). */
export function lowerBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A rename or a new file is durable only once its directory entry is: fsync the directory. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

export async function writeDurably(file: string, data: Buffer | string): Promise<void> {
  const fd = await open(file, 'w', 0o600);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } finally {
    await fd.close();
  }
}

export async function readCheckpoint(dir: string): Promise<Cursor> {
  let text: string;
  try {
    text = await readFile(path.join(dir, CHECKPOINT), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, offset: 0 };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const { seq, offset } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const valid = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!valid(seq) || !valid(offset)) {
    // Written only by rename, so never torn; a bad one means someone edited it.
    throw new Error(`${path.join(dir, CHECKPOINT)} is malformed; delete it to replay the whole spool (replays are deduplicated)`);
  }
  return { seq, offset };
}

/** Temp file, fsync, rename, fsync the directory: after a crash either the old or the new checkpoint exists. */
export async function writeCheckpoint(dir: string, cursor: Cursor): Promise<void> {
  const tmp = path.join(dir, `${CHECKPOINT}.tmp`);
  await writeDurably(tmp, JSON.stringify({ seq: cursor.seq, offset: cursor.offset }));
  await rename(tmp, path.join(dir, CHECKPOINT));
  await fsyncDir(dir);
}

export async function quarantineBytes(dir: string, name: string, bytes: Buffer): Promise<string> {
  const qdir = path.join(dir, QUARANTINE_DIR);
  await mkdir(qdir, { recursive: true, mode: 0o700 });
  // The time suffix keeps a later incarnation from overwriting an earlier quarantine file.
  const file = path.join(qdir, `${name}.${Date.now()}`);
  await writeDurably(file, bytes);
  await fsyncDir(qdir);
  return file;
}

/** Reads bytes [from, to) of a file. */
export async function readBytes(file: string, from: number, to: number): Promise<Buffer> {
  const buf = Buffer.alloc(to - from);
  const fd = await open(file, 'r');
  try {
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fd.read(buf, got, buf.length - got, from + got);
      if (bytesRead === 0) throw new Error(`${path.basename(file)} is shorter than the spool's index of it`);
      got += bytesRead;
    }
  } finally {
    await fd.close();
  }
  return buf;
}
