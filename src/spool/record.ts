/**
 * On-disk format of the write-ahead spool: a segment header and the frames
 * after it. Pure functions over Buffers so the framing and the crypto are
 * tested without a file system.
 *
 * Segment header: `PALSPOOL` · u8 format · u64 segment seq · u8 keyIdLen · keyId.
 * Frame:          u32 len · 12-byte nonce · ciphertext · 16-byte GCM tag
 *                 (len counts nonce + ciphertext + tag).
 * Plaintext, format 2 (what this code writes): u64 appendedAt (ms, the
 *                 oldest record's) · u32 count · count × (u32 len · payload).
 *                 One frame holds every record of one group commit, so a
 *                 group costs one cipher and one tag however many requests
 *                 share its fsync (a cipher per record was ~9 µs of a single
 *                 event's main-thread CPU, and ~4 µs more to open it again).
 * Plaintext, format 1 (the release before; still read, so a spool it left
 *                 is flushed after an upgrade): u64 appendedAt · payload.
 * Every frame is AES-256-GCM with a fresh random nonce; the AAD is the whole
 * segment header plus the frame's offset and length, so a frame that is
 * altered, moved to another offset or segment, or read under another key id
 * or as another format fails authentication instead of being delivered.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SEGMENT_MAGIC = Buffer.from('PALSPOOL', 'ascii');
/** The segment format new segments are written in. */
export const FORMAT_VERSION = 2;
/** Format 1: one record per frame, written by the release before group-sealed frames. */
const FORMAT_ONE_RECORD = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const LEN_BYTES = 4;
const TIME_BYTES = 8;
const COUNT_BYTES = 4;
/** Each record's length field inside a format-2 frame. */
export const RECORD_LEN_BYTES = 4;
/** Smallest legal `len`: nonce + appendedAt + tag (a format-1 frame with an empty payload). */
export const MIN_FRAME_LEN = NONCE_BYTES + TIME_BYTES + TAG_BYTES;
/**
 * 32 MiB of records (their length fields included) per frame: far above the
 * HTTP body cap, small enough that a length field garbled by a crash or bit
 * rot is recognised as garbage instead of making recovery allocate gigabytes.
 */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;
export const MAX_FRAME_LEN = MAX_PAYLOAD_BYTES + MIN_FRAME_LEN + COUNT_BYTES;
/** What a format-2 frame adds to its records' bytes on disk: len, nonce, appendedAt, count, tag. */
export const FRAME_OVERHEAD = LEN_BYTES + MIN_FRAME_LEN + COUNT_BYTES;
const KEY_BYTES = 32;
const HEADER_FIXED = SEGMENT_MAGIC.length + 1 + 8 + 1;

export interface SegmentHeader {
  seq: number;
  keyId: string;
}

export interface DecodedSegmentHeader extends SegmentHeader {
  /** 1 (one record per frame) or 2 (a group commit per frame). */
  format: number;
}

export class RecordAuthError extends Error {
  override name = 'RecordAuthError';
}

export function encodeSegmentHeader(h: SegmentHeader): Buffer {
  const id = Buffer.from(h.keyId, 'utf8');
  if (id.length === 0 || id.length > 255) throw new Error('spool key id must be 1-255 bytes');
  if (!Number.isSafeInteger(h.seq) || h.seq < 0) throw new Error('segment seq must be a non-negative integer');
  const out = Buffer.alloc(HEADER_FIXED + id.length);
  SEGMENT_MAGIC.copy(out, 0);
  out.writeUInt8(FORMAT_VERSION, 8);
  out.writeBigUInt64BE(BigInt(h.seq), 9);
  out.writeUInt8(id.length, 17);
  id.copy(out, HEADER_FIXED);
  return out;
}

export type HeaderParse =
  | { ok: true; header: DecodedSegmentHeader; bytes: Buffer }
  | { ok: false; reason: 'short' | 'magic' | 'version' };

/** Reads the header at the start of `buf` (a 'short' result is a file cut off while being created). */
export function decodeSegmentHeader(buf: Buffer): HeaderParse {
  if (buf.length < HEADER_FIXED) return { ok: false, reason: 'short' };
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return { ok: false, reason: 'magic' };
  const format = buf.readUInt8(8);
  if (format !== FORMAT_VERSION && format !== FORMAT_ONE_RECORD) return { ok: false, reason: 'version' };
  const idLen = buf.readUInt8(17);
  if (idLen === 0) return { ok: false, reason: 'magic' };
  if (buf.length < HEADER_FIXED + idLen) return { ok: false, reason: 'short' };
  const seq = Number(buf.readBigUInt64BE(9));
  const keyId = buf.toString('utf8', HEADER_FIXED, HEADER_FIXED + idLen);
  return { ok: true, header: { seq, keyId, format }, bytes: Buffer.from(buf.subarray(0, HEADER_FIXED + idLen)) };
}

function aad(headerBytes: Buffer, offset: number, len: number): Buffer {
  const tail = Buffer.alloc(12);
  tail.writeBigUInt64BE(BigInt(offset), 0);
  tail.writeUInt32BE(len, 8);
  return Buffer.concat([headerBytes, tail]);
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error('spool keys must be 32 bytes (AES-256)');
}

export interface SealInput {
  key: Buffer;
  /** The exact header bytes of the (format 2) segment the frame will be written to. */
  headerBytes: Buffer;
  /** Byte offset of the frame (its length field) inside the segment file. */
  offset: number;
  /** When the oldest of the records was appended. */
  appendedAt: number;
  /** One or more records, in append order. */
  records: readonly Buffer[];
}

// Nonces come from a pool filled 256 at a time: one CSPRNG call per 256 frames
// instead of one per frame, each nonce as random.
// Safe only because a Node process never forks with this state: a child process,
// a cluster worker and a worker thread each start with their own empty pool.
const NONCE_POOL = 256;
let noncePool = Buffer.alloc(0);
let nonceAt = 0;

function freshNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_BYTES * NONCE_POOL);
    nonceAt = 0;
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
  return nonce;
}

/** The bytes a frame of these records takes in a segment. */
export function frameBytes(records: readonly Buffer[]): number {
  let n = FRAME_OVERHEAD;
  for (const r of records) n += RECORD_LEN_BYTES + r.length;
  return n;
}

/** Encrypts records into one complete format-2 frame ready to be written at `offset`. */
export function sealFrame(r: SealInput): Buffer {
  checkKey(r.key);
  if (r.headerBytes.readUInt8(8) !== FORMAT_VERSION) throw new Error(`frames are written only into format ${FORMAT_VERSION} segments`);
  if (r.records.length === 0) throw new Error('a frame holds at least one record');
  const total = frameBytes(r.records);
  if (total - FRAME_OVERHEAD > MAX_PAYLOAD_BYTES) throw new Error(`spool frame over ${MAX_PAYLOAD_BYTES} bytes of records`);
  const len = total - LEN_BYTES;
  const plain = Buffer.allocUnsafe(TIME_BYTES + COUNT_BYTES + total - FRAME_OVERHEAD);
  plain.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(r.appendedAt))), 0);
  let at = plain.writeUInt32BE(r.records.length, TIME_BYTES);
  for (const rec of r.records) {
    at = plain.writeUInt32BE(rec.length, at);
    at += rec.copy(plain, at);
  }
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', r.key, nonce);
  cipher.setAAD(aad(r.headerBytes, r.offset, len));
  const ct = cipher.update(plain);
  const rest = cipher.final();
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(len, 0);
  nonce.copy(out, LEN_BYTES);
  at = LEN_BYTES + NONCE_BYTES;
  at += ct.copy(out, at);
  at += rest.copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

export type FrameScan =
  | { kind: 'frame'; end: number }
  /** Not enough bytes for a frame, or a length no writer produces: a torn write or garbage. */
  | { kind: 'broken' };

/** Where the frame starting at `pos` in `buf` ends, judged by its length field alone. */
export function scanFrame(buf: Buffer, pos: number): FrameScan {
  if (buf.length - pos < LEN_BYTES) return { kind: 'broken' };
  const len = buf.readUInt32BE(pos);
  if (len < MIN_FRAME_LEN || len > MAX_FRAME_LEN) return { kind: 'broken' };
  const end = pos + LEN_BYTES + len;
  return end > buf.length ? { kind: 'broken' } : { kind: 'frame', end };
}

export interface OpenedFrame {
  appendedAt: number;
  /** The frame's records in append order (exactly one in a format-1 segment). */
  records: Buffer[];
}

/**
 * Authenticates and decrypts one complete frame; throws RecordAuthError if any
 * byte of it (or its AAD) differs, or if its authenticated contents do not
 * parse as the segment's format.
 */
export function openFrame(key: Buffer, headerBytes: Buffer, offset: number, frame: Buffer): OpenedFrame {
  checkKey(key);
  if (frame.length < LEN_BYTES + MIN_FRAME_LEN) throw new RecordAuthError('frame too short');
  const len = frame.readUInt32BE(0);
  if (len !== frame.length - LEN_BYTES) throw new RecordAuthError('frame length mismatch');
  const nonce = frame.subarray(LEN_BYTES, LEN_BYTES + NONCE_BYTES);
  const ct = frame.subarray(LEN_BYTES + NONCE_BYTES, frame.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad(headerBytes, offset, len));
  decipher.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
  let plain: Buffer;
  try {
    const body = decipher.update(ct);
    const rest = decipher.final();
    plain = rest.length === 0 ? body : Buffer.concat([body, rest]);
  } catch (err) {
    throw new RecordAuthError('frame failed authentication', { cause: err });
  }
  const appendedAt = Number(plain.readBigUInt64BE(0));
  if (headerBytes.readUInt8(8) === FORMAT_ONE_RECORD) return { appendedAt, records: [plain.subarray(TIME_BYTES)] };
  return { appendedAt, records: splitRecords(plain) };
}

/** The records of a format-2 plaintext; its lengths must account for every byte. */
function splitRecords(plain: Buffer): Buffer[] {
  if (plain.length < TIME_BYTES + COUNT_BYTES) throw new RecordAuthError('frame holds no record count');
  const count = plain.readUInt32BE(TIME_BYTES);
  const records: Buffer[] = [];
  let at = TIME_BYTES + COUNT_BYTES;
  for (let i = 0; i < count; i++) {
    if (plain.length - at < RECORD_LEN_BYTES) throw new RecordAuthError('frame records overrun the frame');
    const n = plain.readUInt32BE(at);
    at += RECORD_LEN_BYTES;
    if (plain.length - at < n) throw new RecordAuthError('frame records overrun the frame');
    records.push(plain.subarray(at, at + n));
    at += n;
  }
  if (at !== plain.length || count === 0) throw new RecordAuthError('frame records do not fill the frame');
  return records;
}
