import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { formatOneFile, formatOneKey } from '../../test/helpers/spool-format-one.ts';
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  frameBytes,
  LEN_BYTES,
  MAX_PAYLOAD_BYTES,
  NONCE_BYTES,
  openFrame,
  RecordAuthError,
  scanFrame,
  sealFrame,
} from './record.ts';

const key = randomBytes(32);
const header = encodeSegmentHeader({ seq: 7, keyId: 'k1' });
const payload = Buffer.from('{"tenantId":"t1","rows":[]}');

function seal(offset = header.length, p = payload): Buffer {
  return sealFrame({ key, headerBytes: header, offset, appendedAt: 1_764_000_000_123, records: [p] });
}

/** The first segment of the spool the release before group-sealed frames wrote (format 1). */
const formatOneSegment = formatOneFile('seg-0000000000000001.log');

describe('segment header', () => {
  test('round-trips seq and key id', () => {
    const parsed = decodeSegmentHeader(Buffer.concat([header, Buffer.from('frames follow')]));
    assert.deepEqual(parsed, { ok: true, header: { seq: 7, keyId: 'k1', format: 2 }, bytes: header });
  });

  test('a header cut short, a foreign file and a future version are told apart', () => {
    assert.deepEqual(decodeSegmentHeader(header.subarray(0, 10)), { ok: false, reason: 'short' });
    assert.deepEqual(decodeSegmentHeader(header.subarray(0, header.length - 1)), { ok: false, reason: 'short' });
    assert.deepEqual(decodeSegmentHeader(Buffer.from('NOTSPOOL0000000000000')), { ok: false, reason: 'magic' });
    const future = Buffer.from(header);
    future[8] = 3;
    assert.deepEqual(decodeSegmentHeader(future), { ok: false, reason: 'version' });
  });

  test('refuses key ids that cannot be framed', () => {
    assert.throws(() => encodeSegmentHeader({ seq: 1, keyId: '' }));
    assert.throws(() => encodeSegmentHeader({ seq: 1, keyId: 'x'.repeat(256) }));
  });
});

describe('frame', () => {
  test('round trip: payload and appendedAt come back', () => {
    const frame = seal();
    assert.equal(frame.readUInt32BE(0), frame.length - LEN_BYTES);
    assert.equal(frame.length, frameBytes([payload]));
    const opened = openFrame(key, header, header.length, frame);
    assert.deepEqual(opened, { appendedAt: 1_764_000_000_123, records: [payload] });
  });

  test("a group commit's records share one frame and come back in order, empty ones included", () => {
    const records = [Buffer.from('first'), Buffer.alloc(0), randomBytes(70_000), Buffer.from('last')];
    const frame = sealFrame({ key, headerBytes: header, offset: header.length, appendedAt: 5, records });
    assert.equal(frame.length, frameBytes(records));
    assert.deepEqual(openFrame(key, header, header.length, frame), { appendedAt: 5, records });
  });

  test('an empty payload round-trips', () => {
    const frame = seal(header.length, Buffer.alloc(0));
    assert.equal(openFrame(key, header, header.length, frame).records[0]!.length, 0);
  });

  test('a frame written by the release before (format 1, one record) opens as one record', () => {
    const h = decodeSegmentHeader(formatOneSegment);
    assert.ok(h.ok);
    assert.equal(h.header.format, 1);
    const end = scanFrame(formatOneSegment, h.bytes.length);
    assert.equal(end.kind, 'frame');
    const opened = openFrame(formatOneKey, h.bytes, h.bytes.length, formatOneSegment.subarray(h.bytes.length, end.kind === 'frame' ? end.end : 0));
    assert.equal(opened.records.length, 1);
    assert.equal(opened.records[0]![0], 0x02, 'a version-2 spool payload');
    // Read as format 2 instead, its authentication fails: the format byte is part of the AAD.
    const asFormatTwo = Buffer.from(h.bytes);
    asFormatTwo[8] = 2;
    assert.throws(() => openFrame(formatOneKey, asFormatTwo, h.bytes.length, formatOneSegment.subarray(h.bytes.length, end.kind === 'frame' ? end.end : 0)), RecordAuthError);
  });

  test('frames are written only into format-2 segments and hold at least one record', () => {
    const old = Buffer.from(header);
    old[8] = 1;
    assert.throws(() => sealFrame({ key, headerBytes: old, offset: header.length, appendedAt: 0, records: [payload] }), /format 2/);
    assert.throws(() => sealFrame({ key, headerBytes: header, offset: header.length, appendedAt: 0, records: [] }), /at least one/);
  });

  test('two seals of the same payload differ (fresh nonce per frame)', () => {
    assert.notDeepEqual(seal(), seal());
  });

  test('nonces never repeat, across refills of the nonce pool', () => {
    const nonces = new Set<string>();
    // 1,000 frames: the pool holds 256, so this crosses three refills.
    for (let i = 0; i < 1000; i++) nonces.add(seal().subarray(LEN_BYTES, LEN_BYTES + NONCE_BYTES).toString('hex'));
    assert.equal(nonces.size, 1000);
  });

  test('a flipped bit anywhere in the frame fails authentication', () => {
    const frame = seal();
    for (let i = 0; i < frame.length; i++) {
      const bad = Buffer.from(frame);
      bad[i] = bad[i]! ^ 0x01;
      assert.throws(() => openFrame(key, header, header.length, bad), RecordAuthError, `byte ${i}`);
    }
  });

  test('a flipped byte in the segment header fails every frame (header is AAD)', () => {
    const frame = seal();
    const tampered = Buffer.from(header);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 0x20;
    assert.throws(() => openFrame(key, tampered, header.length, frame), RecordAuthError);
  });

  test('a header naming another key id fails, even with the same key bytes', () => {
    const frame = seal();
    const other = encodeSegmentHeader({ seq: 7, keyId: 'k2' });
    assert.throws(() => openFrame(key, other, other.length, frame), RecordAuthError);
  });

  test('the wrong key fails', () => {
    assert.throws(() => openFrame(randomBytes(32), header, header.length, seal()), RecordAuthError);
  });

  test('a frame moved to another offset or another segment fails (AAD binding)', () => {
    const frame = seal(header.length);
    assert.throws(() => openFrame(key, header, header.length + frame.length, frame), RecordAuthError);
    const nextSegment = encodeSegmentHeader({ seq: 8, keyId: 'k1' });
    assert.throws(() => openFrame(key, nextSegment, header.length, frame), RecordAuthError);
  });

  test('refuses keys that are not AES-256 and records over the cap', () => {
    assert.throws(() => sealFrame({ key: randomBytes(16), headerBytes: header, offset: 0, appendedAt: 0, records: [payload] }));
    assert.throws(() => seal(header.length, Buffer.alloc(MAX_PAYLOAD_BYTES + 1)));
    assert.throws(() => sealFrame({ key, headerBytes: header, offset: 0, appendedAt: 0, records: [Buffer.alloc(MAX_PAYLOAD_BYTES / 2), Buffer.alloc(MAX_PAYLOAD_BYTES / 2)] }), /over/);
  });
});

describe('scanFrame', () => {
  test('finds frame boundaries and calls a cut-off frame broken', () => {
    const a = seal(0);
    const b = seal(a.length);
    const buf = Buffer.concat([a, b]);
    assert.deepEqual(scanFrame(buf, 0), { kind: 'frame', end: a.length });
    assert.deepEqual(scanFrame(buf, a.length), { kind: 'frame', end: buf.length });
    assert.deepEqual(scanFrame(buf.subarray(0, buf.length - 1), a.length), { kind: 'broken' });
    assert.deepEqual(scanFrame(buf, buf.length - 2), { kind: 'broken' });
  });

  test('zeros (an extended but unwritten file after a crash) are broken, not a frame', () => {
    assert.deepEqual(scanFrame(Buffer.alloc(64), 0), { kind: 'broken' });
  });
});
