/**
 * The literal renderer fuzzed against the engine's own parser (real chDB):
 * every generated value, sent as a literal, comes back byte for byte and
 * exactly as it does through parameter binding, in one row and one column
 * (a value can never end its literal and add SQL of its own).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import fc from 'fast-check';
import { fileEngine } from '../../test/helpers/engine.ts';
import type { ChdbWarehouse } from './chdb-warehouse.ts';
import { inlineParams, stringLiteral } from './literal-params.ts';

const engine = fileEngine('palisade-literal-', { migrate: false });
let wh: ChdbWarehouse;
before(async () => {
  wh = await engine.open();
});

// What breaks a quoted literal, or a naive placeholder scan, mixed into any Unicode text.
const NASTY = ["'", '\\', '\0', '\n', '\r', '\t', '\b', '\f', '\u001a', '{', '}', '{v:String}', '`', '"', ';', '--', '/*', '*/', '\\x27', "\\'", '\u2028', '\u00a0', '😀'];
const text = fc.string({ unit: fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 });

async function both<T>(sql: string, params: Record<string, unknown>): Promise<[T[], T[]]> {
  return [await wh.query<T>(sql, { params, inlineParams: true }), await wh.query<T>(sql, { params })];
}

test('strings: literal and bound values come back identical to the input', async () => {
  await fc.assert(
    fc.asyncProperty(text, text, async (a, b) => {
      const [lit, bound] = await both<{ a: string; b: string; n: number }>('SELECT {a:String} AS a, {b:String} AS b, length({a:String}) AS n', { a, b });
      assert.deepEqual(lit, [{ a, b, n: Buffer.byteLength(a) }]);
      assert.deepEqual(lit, bound);
    }),
    { numRuns: 300 },
  );
});

test('arrays of strings, numbers and times parse as their declared types', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(text, { maxLength: 6 }),
      // Integers beyond ±2^53 are refused on both paths (they have already lost bits).
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((f) => !Number.isInteger(f) || Number.isSafeInteger(f)),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }),
      async (xs, f, u, d) => {
        const ts = d.toISOString().replace('T', ' ').replace('Z', '');
        const sql = "SELECT {xs:Array(String)} AS xs, {f:Float64} AS f, {u:UInt32} AS u, toString({t:DateTime64(3, 'UTC')}) AS t";
        const [lit, bound] = await both<{ xs: string[]; f: number; u: number; t: string }>(sql, { xs, f, u, t: ts });
        assert.deepEqual(lit, [{ xs, f, u, t: ts }]);
        // Binding turns -0 into 0 (chdb formats it as "0"); the literal keeps the sign. Otherwise identical.
        assert.deepEqual({ ...lit[0], f: 0 }, { ...bound[0], f: 0 });
        assert.ok(lit[0]?.f === bound[0]?.f);
      },
    ),
    { numRuns: 200 },
  );
});

test('what the renderer refuses instead of guessing', () => {
  assert.throws(() => inlineParams('SELECT {t:Identifier}', { t: 'events' }), /not rendered as a literal/);
  assert.throws(() => inlineParams("SELECT {a:String') OR 1 --}", { a: 'x' }), /not rendered as a literal/);
  assert.throws(() => inlineParams('SELECT {a:String}', {}), /no value for parameter a/);
  assert.throws(() => inlineParams('SELECT {a:Float64}', { a: Number.NaN }), /non-finite/);
  assert.throws(() => inlineParams('SELECT {a:Float64}', { a: 2 ** 60 }), /unsafe integer/);
  assert.throws(() => inlineParams('SELECT {a:String}', { a: { x: 1 } }), /unsupported/);
  assert.throws(() => inlineParams('SELECT {a:Array(String)}', { a: [['nested']] }), /unsupported/);
  // One pass: a value that looks like a placeholder stays text.
  assert.equal(inlineParams('SELECT {a:String}, {b:String}', { a: '{b:String}', b: 'x' }), "SELECT CAST('{b:String}' AS String), CAST('x' AS String)");
  assert.equal(stringLiteral("it's \\ done"), "'it\\'s \\\\ done'");
});
