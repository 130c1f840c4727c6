/**
 * The nasty-payload corpus: the static files beside this one
 * (injection-strings.json, raw-bodies.json) plus what is too big or too
 * binary to keep in the repository, generated here deterministically: deep
 * nesting, 10 MB strings, gzip bombs, invalid UTF-8, oversized batches,
 * injection strings in every field of every route. `corpus()` returns the
 * requests; test/hostile-corpus.int.test.ts replays them against a server.
 *   node --import tsx test/corpus/generate.ts   prints the corpus's size by category
 */
import { readFileSync } from 'node:fs';
import { deflateSync, gzipSync } from 'node:zlib';

export interface Payload {
  category: string;
  method: string;
  route: string;
  /** Which key goes in Authorization ('none' for none); the replayer fills it in. */
  auth: 'ingest' | 'browser' | 'query' | 'admin' | 'none';
  headers?: Record<string, string>;
  body?: Buffer | string;
}

const dir = new URL('./', import.meta.url);
export const INJECTIONS: string[] = JSON.parse(readFileSync(new URL('injection-strings.json', dir), 'utf8')) as string[];
const RAW: Record<string, string[]> = JSON.parse(readFileSync(new URL('raw-bodies.json', dir), 'utf8')) as Record<string, string[]>;

const json = (v: unknown) => JSON.stringify(v);
const ROUTES = ['/v1/track', '/v1/batch', '/v1/identify', '/v1/page', '/v1/group', '/v1/alias', '/v1/t', '/v1/b'];

function injectionEvents(): Payload[] {
  const out: Payload[] = [];
  for (const [i, s] of INJECTIONS.entries()) {
    const fields = {
      event: s, userId: s, anonymousId: s, messageId: s, timestamp: s, sentAt: s,
      properties: { [s]: s, nested: { [s]: [s, { [s]: s }] } },
      context: { [s]: s, page: { url: s, referrer: s }, userAgent: s, ip: s, library: { name: s } },
    };
    out.push({ category: 'injection: every field of track', method: 'POST', route: '/v1/track', auth: 'ingest', body: json(fields) });
    out.push({ category: 'injection: identify and group', method: 'POST', route: i % 2 ? '/v1/identify' : '/v1/group', auth: 'ingest', body: json({ userId: s, groupId: s, traits: { [s]: s, email: s } }) });
    out.push({ category: 'injection: batch context and items', method: 'POST', route: '/v1/batch', auth: 'ingest', body: json({ context: { [s]: s }, sentAt: s, batch: [{ type: s, event: s, userId: s }, { type: 'track', event: s, userId: 'u', properties: { q: s } }] }) });
    out.push({ category: 'injection: query API', method: 'POST', route: '/v1/query', auth: 'query', body: json({ kind: 'events', from: '-7d', events: [s], filters: [{ property: s, op: 'eq', value: s }, { property: 'p', source: 'traits', op: 'in', value: [s, s] }, { field: 'user', op: 'contains', value: s }] }) });
    out.push({ category: 'injection: query API', method: 'POST', route: '/v1/query', auth: 'query', body: json({ kind: 'trend', from: s, to: s, timezone: s, breakdown: { property: s }, interval: s }) });
    out.push({ category: 'injection: query schema URL', method: 'GET', route: `/v1/query/schema?from=${encodeURIComponent(s)}&event=${encodeURIComponent(s)}`, auth: 'query' });
    out.push({ category: 'injection: admin API', method: 'PATCH', route: '/admin/tenants/{tenant}/settings', auth: 'admin', body: json({ piiDrop: [s], ipPolicy: s }) });
    out.push({ category: 'injection: admin API', method: 'POST', route: '/admin/tenants', auth: 'admin', body: json({ name: s, allowedOrigins: [s] }) });
    out.push({ category: 'injection: URL paths', method: 'POST', route: `/v1/${encodeURIComponent(s)}`, auth: 'ingest', body: '{}' });
    out.push({ category: 'injection: admin URL paths', method: 'GET', route: `/admin/tenants/${encodeURIComponent(s)}/stats`, auth: 'admin' });
  }
  return out;
}

function nesting(): Payload[] {
  const deepArray = '['.repeat(200_000) + ']'.repeat(200_000);
  const deepObject = '{"a":'.repeat(60_000) + '1' + '}'.repeat(60_000);
  const deepProps = `{"event":"a","userId":"u","properties":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
  const deepBatch = `{"batch":[{"type":"track","event":"a","userId":"u","context":${'{"c":'.repeat(3_000)}1${'}'.repeat(3_000)}}]}`;
  const wideProps = json({ event: 'a', userId: 'u', properties: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) });
  const manyDots = json({ event: 'a', userId: 'u', properties: { [`${'a.'.repeat(500)}b`]: 1 } });
  return [
    ...[deepArray, deepObject].map((body) => ({ category: 'deep nesting', method: 'POST', route: '/v1/batch', auth: 'ingest' as const, headers: { 'content-encoding': 'gzip' }, body: gzipSync(body) })),
    { category: 'deep nesting', method: 'POST', route: '/v1/track', auth: 'ingest', body: deepProps },
    { category: 'deep nesting', method: 'POST', route: '/v1/batch', auth: 'ingest', body: deepBatch },
    { category: 'deep nesting', method: 'POST', route: '/v1/query', auth: 'query', body: `{"kind":"events","filters":${'['.repeat(10_000)}${']'.repeat(10_000)}}` },
    { category: 'wide objects', method: 'POST', route: '/v1/track', auth: 'ingest', body: wideProps },
    { category: 'wide objects', method: 'POST', route: '/v1/track', auth: 'ingest', body: manyDots },
  ];
}

function sizes(): Payload[] {
  const tenMb = 'x'.repeat(10 * 1024 * 1024);
  const tenMbEvent = `{"event":"a","userId":"u","properties":{"s":"${tenMb}"}}`;
  const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
  const nestedBomb = gzipSync(gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x61), { level: 9 }), { level: 9 });
  return [
    { category: '10 MB strings', method: 'POST', route: '/v1/track', auth: 'ingest', body: tenMbEvent },
    { category: '10 MB strings', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-encoding': 'gzip' }, body: gzipSync(tenMbEvent) },
    { category: '10 MB strings', method: 'POST', route: '/v1/query', auth: 'query', headers: { 'content-encoding': 'gzip' }, body: gzipSync(`{"kind":"events","events":["${tenMb}"]}`) },
    { category: '10 MB strings', method: 'PATCH', route: '/admin/tenants/{tenant}/settings', auth: 'admin', body: `{"piiDrop":["${tenMb}"]}` },
    { category: 'gzip bombs', method: 'POST', route: '/v1/batch', auth: 'ingest', headers: { 'content-encoding': 'gzip' }, body: bomb },
    { category: 'gzip bombs', method: 'POST', route: '/v1/batch', auth: 'ingest', headers: { 'content-encoding': 'deflate' }, body: deflateSync(Buffer.alloc(100 * 1024 * 1024, 0x20), { level: 9 }) },
    { category: 'gzip bombs', method: 'POST', route: '/v1/batch', auth: 'ingest', headers: { 'content-encoding': 'gzip' }, body: nestedBomb },
    { category: 'gzip bombs', method: 'POST', route: '/v1/batch', auth: 'none', headers: { 'content-encoding': 'gzip' }, body: bomb },
    { category: 'gzip bombs', method: 'POST', route: '/v1/query', auth: 'query', headers: { 'content-encoding': 'gzip' }, body: bomb },
    { category: 'encodings', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-encoding': 'gzip' }, body: gzipSync('{"event":"a","userId":"u"}').subarray(0, 12) },
    { category: 'encodings', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-encoding': 'br' }, body: 'x' },
    { category: 'encodings', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-encoding': 'gzip, gzip' }, body: gzipSync(gzipSync('{}')) },
    { category: 'encodings', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-encoding': 'deflate' }, body: Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff]) },
    { category: 'oversized batches', method: 'POST', route: '/v1/batch', auth: 'ingest', body: json({ batch: Array.from({ length: 2_001 }, () => ({ type: 'track', event: 'a', userId: 'u' })) }) },
    { category: 'oversized batches', method: 'POST', route: '/v1/batch', auth: 'ingest', body: json({ context: { big: 'y'.repeat(40 * 1024) }, batch: [{ type: 'track', event: 'a', userId: 'u' }] }) },
  ];
}

function bytes(): Payload[] {
  const bad = [
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from('{"event":"\xc0\x80","userId":"u"}', 'latin1'),
    Buffer.from('{"event":"\xed\xa0\x80","userId":"u"}', 'latin1'),
    Buffer.from([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x7d]),
    Buffer.from('\ufeff{"event":"a","userId":"u"}', 'utf16le'),
    Buffer.alloc(1024, 0),
  ];
  return bad.map((body) => ({ category: 'invalid UTF-8 and binary', method: 'POST', route: '/v1/track', auth: 'ingest', body }));
}

function raw(): Payload[] {
  const out: Payload[] = [];
  for (const [category, bodies] of Object.entries(RAW)) {
    for (const [i, body] of bodies.entries()) {
      out.push({ category, method: 'POST', route: ROUTES[i % ROUTES.length] ?? '/v1/track', auth: 'ingest', body });
      out.push({ category, method: 'POST', route: '/v1/batch', auth: 'browser', headers: { 'content-type': 'text/plain', origin: 'https://corpus.example' }, body });
    }
  }
  return out;
}

function requests(): Payload[] {
  return [
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'none', headers: { authorization: `Basic ${'A'.repeat(12_000)}` }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'none', headers: { authorization: 'Basic !!!not-base64!!!' }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'none', headers: { authorization: `Basic ${Buffer.from('pal_sk_:').toString('base64')}` }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'none', headers: { authorization: `Bearer pal_sk_${'A'.repeat(16)}_${'B'.repeat(100)}` }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\n\r\n--x--' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-type': '' }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'content-length': '999999999' }, body: '{}' },
    { category: 'headers', method: 'POST', route: '/v1/track', auth: 'ingest', headers: { 'x-forwarded-for': `${'1.2.3.4, '.repeat(500)}::1`, 'x-forwarded-proto': 'http' }, body: '{"event":"a","userId":"u"}' },
    { category: 'paths', method: 'GET', route: `/v1/${'a'.repeat(8_000)}`, auth: 'ingest' },
    { category: 'paths', method: 'GET', route: `/v1/track?${Array.from({ length: 1_000 }, (_, i) => `p${i}=${i}`).join('&')}`, auth: 'ingest' },
    { category: 'paths', method: 'POST', route: '/v1/%2e%2e/admin/tenants', auth: 'ingest', body: '{}' },
    { category: 'paths', method: 'POST', route: '/v1/track/../../admin/tenants', auth: 'ingest', body: '{}' },
    { category: 'paths', method: 'POST', route: '/v1/%00', auth: 'ingest', body: '{}' },
    { category: 'paths', method: 'GET', route: '/dashboard/../../../etc/passwd', auth: 'none' },
    { category: 'paths', method: 'GET', route: '/sdk/%2e%2e%2f%2e%2e%2fpackage.json', auth: 'none' },
    { category: 'paths', method: 'DELETE', route: '/v1/batch', auth: 'ingest' },
    { category: 'paths', method: 'PUT', route: '/v1/query', auth: 'query', body: '{}' },
    { category: 'paths', method: 'POST', route: '/v1/track?writeKey=pal_pk_AAAAAAAAAAAAAAAA', auth: 'none', body: '{}' },
    { category: 'paths', method: 'GET', route: '/admin/tenants/ten_AAAAAAAAAAAA/audit?since=%00&limit=-1&after=%27', auth: 'admin' },
    { category: 'paths', method: 'GET', route: '/v1/audit?since=99999999999999d&limit=1e9', auth: 'query' },
  ];
}

export function corpus(): Payload[] {
  return [...injectionEvents(), ...nesting(), ...sizes(), ...bytes(), ...raw(), ...requests()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const counts = new Map<string, number>();
  for (const p of corpus()) counts.set(p.category, (counts.get(p.category) ?? 0) + 1);
  for (const [c, n] of counts) process.stdout.write(`${String(n).padStart(5)}  ${c}\n`);
}
