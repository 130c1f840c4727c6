/**
 * On-disk format of the write-ahead spool: a segment header and the record
 * frames after it. Pure functions over Buffers so the framing and the crypto
 * are tested without a file system.
 *
 * Segment header: `PALSPOOL` · u8 version · u64 segment seq · u8 keyIdLen · keyId.
 * Record frame:   u32 len · 12-byte nonce · ciphertext · 16-byte GCM tag
 *                 (len counts nonce + ciphertext + tag).
 * Plaintext:      u64 appendedAt (ms) · payload.
 * Every record is AES-256-GCM with a fresh random nonce; the AAD is the whole
 * segment header plus the frame's offset and length, so a record that is
 * altered, moved to another offset or segment, or read under another key id
 * fails authentication instead of being delivered.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SEGMENT_MAGIC = Buffer.from('PALSPOOL', 'ascii');
export const FORMAT_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const LEN_BYTES = 4;
const TIME_BYTES = 8;
/** Smallest legal `len`: nonce + appendedAt + tag (an empty payload). */
export const MIN_FRAME_LEN = NONCE_BYTES + TIME_BYTES + TAG_BYTES;
/**
 * 32 MiB: far above the HTTP body cap, small enough that a length field
 * garbled by a crash or bit rot is recognised as garbage instead of making
 * recovery allocate gigabytes.
 */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;
export const MAX_FRAME_LEN = MAX_PAYLOAD_BYTES + MIN_FRAME_LEN;
const KEY_BYTES = 32;
const HEADER_FIXED = SEGMENT_MAGIC.length + 1 + 8 + 1;

export interface SegmentHeader {
  seq: number;
  keyId: string;
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
  | { ok: true; header: SegmentHeader; bytes: Buffer }
  | { ok: false; reason: 'short' | 'magic' | 'version' };

/** Reads the header at the start of `buf` (a 'short' result is a file cut off while being created). */
export function decodeSegmentHeader(buf: Buffer): HeaderParse {
  if (buf.length < HEADER_FIXED) return { ok: false, reason: 'short' };
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return { ok: false, reason: 'magic' };
  if (buf.readUInt8(8) !== FORMAT_VERSION) return { ok: false, reason: 'version' };
  const idLen = buf.readUInt8(17);
  if (idLen === 0) return { ok: false, reason: 'magic' };
  if (buf.length < HEADER_FIXED + idLen) return { ok: false, reason: 'short' };
  const seq = Number(buf.readBigUInt64BE(9));
  const keyId = buf.toString('utf8', HEADER_FIXED, HEADER_FIXED + idLen);
  return { ok: true, header: { seq, keyId }, bytes: Buffer.from(buf.subarray(0, HEADER_FIXED + idLen)) };
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
  /** The exact header bytes of the segment the frame will be written to. */
  headerBytes: Buffer;
  /** Byte offset of the frame (its length field) inside the segment file. */
  offset: number;
  appendedAt: number;
  payload: Buffer;
}

/** Encrypts one record into a complete frame ready to be written at `offset`. */
// Nonces come from a pool filled 256 at a time: one CSPRNG call per 256 records
// instead of one per record (~2 % of a single event's CPU), each nonce as random.
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

export function sealRecord(r: SealInput): Buffer {
  checkKey(r.key);
  if (r.payload.length > MAX_PAYLOAD_BYTES) throw new Error(`spool payload over ${MAX_PAYLOAD_BYTES} bytes`);
  const len = NONCE_BYTES + TIME_BYTES + r.payload.length + TAG_BYTES;
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', r.key, nonce);
  cipher.setAAD(aad(r.headerBytes, r.offset, len));
  const time = Buffer.alloc(TIME_BYTES);
  time.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(r.appendedAt))));
  const ct = Buffer.concat([cipher.update(time), cipher.update(r.payload), cipher.final()]);
  const head = Buffer.alloc(LEN_BYTES);
  head.writeUInt32BE(len);
  return Buffer.concat([head, nonce, ct, cipher.getAuthTag()]);
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

export interface OpenedRecord {
  appendedAt: number;
  payload: Buffer;
}

/** Authenticates and decrypts one complete frame; throws RecordAuthError if any byte of it (or its AAD) differs. */
export function openRecord(key: Buffer, headerBytes: Buffer, offset: number, frame: Buffer): OpenedRecord {
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
    plain = Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch (err) {
    throw new RecordAuthError('record failed authentication', { cause: err });
  }
  return { appendedAt: Number(plain.readBigUInt64BE(0)), payload: plain.subarray(TIME_BYTES) };
}
