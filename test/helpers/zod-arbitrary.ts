/**
 * fast-check arbitraries derived from the zod schemas that validate requests.
 * `zod-fast-check` does not support zod 4, so a schema is exported with
 * `z.toJSONSchema` (input side, refinements left out) and this small walker
 * turns the JSON Schema into an arbitrary. At every node, a value the schema
 * describes is mixed with hostile values (boundary numbers, ±2^53 and beyond,
 * NaN-like strings, time strings, zone names, cursors, unicode, huge strings,
 * nested shapes), and a field's name picks extra values where the name says
 * what it holds (`since`, `timezone`, `cursor`, …).
 */
import fc from 'fast-check';
import { z } from 'zod';

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
};

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export const HOSTILE_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 0.5, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 2 ** 64, -(2 ** 64),
  1e21, -1e21, 1e300, -1e300, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 9007199254740993,
];

export const TIME_STRINGS: readonly string[] = [
  'now', '-7d', '-0m', '-99999w', '-99999d', '7d', '999999d', '0s', '1s', '30m',
  '2026-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '1969-12-31T23:59:59Z', '1900-01-01', '2299-12-31T23:59:59.999Z', '2300-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z', '-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00.001Z', '0000-00-00', '9999-99-99T99:99:99Z',
  '2026-01-01T00:00:00+25:00', '2026-01-01 00:00:00.000', 'yesterday', 'NaN', '1e999',
];

export const ZONES: readonly string[] = [
  'UTC', 'Europe/Paris', 'Asia/Kolkata', 'America/St_Johns', 'Australia/Eucla', 'US/Pacific-New', 'SystemV/AST4', 'SystemV/EST5EDT',
  'Etc/GMT+14', 'Etc/GMT-15', 'Mars/Olympus', 'utc', 'Europe/../Paris', '/etc/passwd', 'Factory', 'posixrules', 'localtime',
];

export const CURSORS: readonly string[] = [
  b64({ at: '2026-01-01 00:00:00.000', node: 'n', seq: -1 }),
  b64({ at: '2026-01-01 00:00:00.000', node: 'n', seq: 2 ** 64 }),
  b64({ at: '9999-99-99 99:99:99.999', node: 'n', seq: 1 }),
  b64({ at: '2026-01-01 00:00:00.000', node: '', seq: 0 }),
  b64(['2026-01-01 00:00:00.000', 'm', 'xxxxxxxx']),
  b64(['-271821-04-20 00:00:00.000', 'm', 'xxxxxxxx']),
  b64([1, 2, 3]),
  b64(null),
  'seq:-1', 'AAAA', '', '!!!', '%00', 'A'.repeat(600),
];

const NAMED_STRINGS: readonly string[] = [
  '', ' ', 'NaN', 'Infinity', '-Infinity', 'null', 'undefined', 'true', '0', '-1', '1e999', '0x10', '__proto__', 'constructor',
  'tenant_id', "' OR 1=1 --", '{p0:String}', '\u0000', '\u202e', '\ud800', '\udfff', '🎉', 'ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'jane%40example.com',
  'a'.repeat(257), 'pal_pk_AAAAAAAAAAAAAAAA', 'pal_sk_', '../../etc/passwd', 'e\u0301', 'ten_AAAAAAAAAAAA',
];

/** A string for a field, from hostile values and the ones its name suggests. */
function namedHints(name: string | undefined): string[] {
  const n = (name ?? '').toLowerCase();
  if (/^(from|to|since|until|timestamp|sentat|originaltimestamp|receivedat)$/.test(n)) return [...TIME_STRINGS];
  if (n === 'timezone') return [...ZONES];
  if (n === 'cursor' || n === 'after') return [...CURSORS];
  if (n === 'duration') return ['1h', '21d', '22d', '0h', '-1d', '999999999d', '1.5h', '8h', 'P1D'];
  return [];
}

// Over the 32 KB event cap and the 8 KB string cap, up to 64 KB; rare, so most bodies stay small and fast.
const hugeString = fc.integer({ min: 1, max: 64 }).map((k) => 'x'.repeat(k * 1024));

// The parts of a hostile value that do not depend on the field's name, built once: building a
// unicode fc.string() costs ~1 ms (fast-check maps every code point), and a schema asks for
// hundreds of hostile values.
const HOSTILE_ANY = [
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...HOSTILE_NUMBERS) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...NAMED_STRINGS, ...TIME_STRINGS.slice(0, 8), ...ZONES.slice(5, 8)) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [[[[[]]]]], { a: { b: { c: { d: {} } } } }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: hugeString }, { weight: 9, arbitrary: fc.string({ maxLength: 300 }) }) },
];

/** Hostile values of any type: what any field might receive. */
export function hostileValue(name?: string): fc.Arbitrary<unknown> {
  const hints = namedHints(name);
  return fc.oneof(...HOSTILE_ANY, { weight: hints.length > 0 ? 6 : 0, arbitrary: hints.length > 0 ? fc.constantFrom<unknown>(...hints) : fc.constant('') });
}

function clamp(n: number | undefined, fallback: number, max: number): number {
  return Math.min(n ?? fallback, max);
}

function stringArb(s: JsonSchema, name: string | undefined): fc.Arbitrary<string> {
  const hints = namedHints(name);
  const minLength = s.minLength ?? 0;
  let base: fc.Arbitrary<string>;
  if (s.pattern) {
    base = fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= minLength && v.length <= (s.maxLength ?? Infinity));
  } else {
    base = fc.string({ unit: 'grapheme', minLength, maxLength: Math.max(minLength, clamp(s.maxLength, 24, 24)) });
  }
  if (hints.length === 0) return base;
  return fc.oneof({ weight: 1, arbitrary: base }, { weight: 3, arbitrary: fc.constantFrom(...hints) });
}

function numberArb(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : Number.EPSILON) : undefined);
  const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : Number.EPSILON) : undefined);
  const inRange = integer
    ? fc.integer({ min: Math.max(min ?? -(2 ** 31), Number.MIN_SAFE_INTEGER), max: Math.min(max ?? 2 ** 31, Number.MAX_SAFE_INTEGER) })
    : fc.double({ min: min ?? -1e6, max: max ?? 1e6, noNaN: true, noDefaultInfinity: true });
  const edges = [min, max, min !== undefined ? min - 1 : undefined, max !== undefined ? max + 1 : undefined].filter((x): x is number => x !== undefined && Number.isFinite(x));
  return edges.length > 0 ? fc.oneof({ weight: 3, arbitrary: inRange }, { weight: 1, arbitrary: fc.constantFrom(...edges) }) : inRange;
}

/** A value the JSON Schema describes (ignoring refinements zod cannot export), at most `depth` levels deep. */
function described(s: JsonSchema, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a) => arbitraryFromJsonSchema(a, name, depth)));
  if (s.allOf && s.allOf[0]) return arbitraryFromJsonSchema(s.allOf[0], name, depth);
  if (Array.isArray(s.type)) return fc.oneof(...s.type.map((t) => described({ ...s, type: t }, name, depth)));
  switch (s.type) {
    case 'string':
      return stringArb(s, name);
    case 'integer':
      return numberArb(s, true);
    case 'number':
      return numberArb(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = s.items ? arbitraryFromJsonSchema(s.items, name, depth + 1) : hostileValue(name);
      const minLength = s.minItems ?? 0;
      return fc.array(item, { minLength, maxLength: Math.max(minLength, clamp(s.maxItems, 4, 4)) });
    }
    case 'object': {
      const props = s.properties ?? {};
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = arbitraryFromJsonSchema(v, k, depth + 1);
      const required = (s.required ?? []).filter((k) => k in props);
      const known = fc.record(record, { requiredKeys: required });
      // Now and then a key the schema does not know: `tenant_id`, `__proto__`, a unicode name.
      const extra = fc.dictionary(fc.constantFrom('tenant_id', 'tenantId', '__proto__', 'constructor', 'x', 'é', '🎉', ''), hostileValue(), { maxKeys: 2 });
      return fc.oneof({ weight: 5, arbitrary: known }, { weight: 1, arbitrary: fc.tuple(known, extra).map(([a, b]) => ({ ...b, ...a })) });
    }
    default:
      // `{}`: any JSON (z.unknown(), z.custom objects such as properties and context).
      return depth > 3 ? fc.jsonValue({ maxDepth: 1 }) : fc.oneof(fc.dictionary(fc.string({ maxLength: 12 }), hostileValue(), { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 }));
  }
}

/** The schema's values, one in six replaced by a hostile value. */
export function arbitraryFromJsonSchema(s: JsonSchema, name?: string, depth = 0): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary: described(s, name, depth) }, { weight: 1, arbitrary: hostileValue(name) });
}

/** The input a zod schema validates, as an arbitrary (see the file comment). */
export function arbitraryFromZod(schema: z.ZodType): fc.Arbitrary<unknown> {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
  return arbitraryFromJsonSchema(json);
}
