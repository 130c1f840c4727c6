/**
 * The scan `Spool.open` runs after a restart, from the checkpoint on. It
 * never destroys bytes that might be an acknowledged event: whatever it cuts
 * off or skips is copied to `quarantine/` first, so an operator can still
 * look at it.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { decodeSegmentHeader, openFrame, RecordAuthError, scanFrame } from './record.ts';
import { fsyncDir, quarantineBytes, readCheckpoint, SEGMENT_RE, type Cursor, type SegmentState } from './segment-files.ts';

export interface RecoveryReport {
  checkpoint: Cursor;
  segments: number;
  records: number;
  tornTail?: { segment: string; bytesDropped: number };
  /** Frames (or unreadable regions) copied to quarantine/ and never handed to the flusher. */
  quarantined: number;
  quarantineFiles: string[];
}

/** Lists segment files in seq order, deleting those wholly before the checkpoint (a crash after the checkpoint rename). */
async function listSegments(dir: string, checkpoint: Cursor): Promise<{ seq: number; file: string }[]> {
  const found: { seq: number; file: string }[] = [];
  for (const name of await readdir(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (!m) continue;
    const seq = Number(m[1]);
    if (seq < checkpoint.seq) await unlink(path.join(dir, name));
    else found.push({ seq, file: path.join(dir, name) });
  }
  return found.sort((a, b) => a.seq - b.seq);
}

export async function recoverSegments(
  dir: string,
  keys: ReadonlyMap<string, Buffer>,
): Promise<{ segments: SegmentState[]; checkpoint: Cursor; report: RecoveryReport }> {
  const checkpoint = await readCheckpoint(dir);
  const report: RecoveryReport = { checkpoint, segments: 0, records: 0, quarantined: 0, quarantineFiles: [] };
  const files = await listSegments(dir, checkpoint);
  const segments: SegmentState[] = [];
  for (const [i, f] of files.entries()) {
    const seg = await scanSegment(dir, f, i === files.length - 1, checkpoint, keys, report);
    if (seg) segments.push(seg);
  }
  report.segments = segments.length;
  report.records = segments.reduce((n, s) => n + (s.recordsThrough.at(-1) ?? 0), 0);
  return { segments, checkpoint, report };
}

async function scanSegment(
  dir: string,
  f: { seq: number; file: string },
  isLast: boolean,
  checkpoint: Cursor,
  keys: ReadonlyMap<string, Buffer>,
  report: RecoveryReport,
): Promise<SegmentState | null> {
  const name = path.basename(f.file);
  const buf = await readFile(f.file);
  const h = decodeSegmentHeader(buf);
  if (!h.ok || h.header.seq !== f.seq) {
    // A header cut short in the newest file is a crash while creating it: nothing in it was acknowledged.
    if (!h.ok && h.reason === 'short' && isLast) report.tornTail = { segment: name, bytesDropped: buf.length };
    else report.quarantined += 1;
    if (buf.length > 0) report.quarantineFiles.push(await quarantineBytes(dir, `${name}.whole`, buf));
    await unlink(f.file);
    await fsyncDir(dir);
    return null;
  }
  const key = keys.get(h.header.keyId);
  if (!key) throw new Error(`spool segment ${name} was written with key id "${h.header.keyId}", which is not configured; add that key back`);
  const seg: SegmentState = {
    seq: f.seq, path: f.file, headerBytes: h.bytes, keyId: h.header.keyId, key,
    size: buf.length, starts: [], ends: [], times: [], recordsThrough: [], sealed: true,
  };
  let pos = Math.max(h.bytes.length, f.seq === checkpoint.seq ? checkpoint.offset : 0);
  while (pos < buf.length) {
    const frame = scanFrame(buf, pos);
    if (frame.kind === 'broken') {
      const rest = buf.subarray(pos);
      if (isLast) {
        // A write the crash cut off: it was never fsync'd, so never acknowledged.
        report.tornTail = { segment: name, bytesDropped: rest.length };
        report.quarantineFiles.push(await quarantineBytes(dir, `${name}.${pos}.torn`, rest));
        await truncateTo(f.file, pos);
        seg.size = pos;
      } else {
        // Older segments were fsync'd whole before the next one was created, so this is damage, not a crash.
        report.quarantined += 1;
        report.quarantineFiles.push(await quarantineBytes(dir, `${name}.${pos}.unframed`, rest));
      }
      break;
    }
    try {
      const opened = openFrame(key, h.bytes, pos, buf.subarray(pos, frame.end));
      seg.starts.push(pos);
      seg.ends.push(frame.end);
      seg.times.push(opened.appendedAt);
      seg.recordsThrough.push((seg.recordsThrough.at(-1) ?? 0) + opened.records.length);
    } catch (err) {
      if (!(err instanceof RecordAuthError)) throw err;
      report.quarantined += 1;
      report.quarantineFiles.push(await quarantineBytes(dir, `${name}.${pos}.bad`, buf.subarray(pos, frame.end)));
    }
    pos = frame.end;
  }
  return seg;
}

async function truncateTo(file: string, size: number): Promise<void> {
  const fd = await open(file, 'r+');
  try {
    await fd.truncate(size);
    await fd.sync();
  } finally {
    await fd.close();
  }
}
