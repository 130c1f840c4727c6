import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cleanString, MAX_KEY_LENGTH, sanitiseObject, sanitiseValue, truncateCodePoints } from './sanitise.ts';

const limits = { maxStringLength: 100, maxDepth: 4, maxProperties: 20 };
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

function nested(levels: number): string {
  return '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
}

describe('cleanString', () => {
  test('removes C0 (except tab, newline, return), DEL and C1 control characters', () => {
    let all = '';
    for (let c = 0; c <= 0xa0; c++) all += String.fromCharCode(c);
    let expected = '\t\n\r';
    for (let c = 0x20; c < 0x7f; c++) expected += String.fromCharCode(c);
    expected += '\u00a0';
    assert.equal(cleanString(all), expected);
    assert.equal(cleanString('a\u0000b\u0085c\u009fd\u007f'), 'abcd');
  });

  test('replaces lone surrogates and keeps real pairs', () => {
    assert.equal(cleanString('a\uD800b'), 'a\uFFFDb');
    assert.equal(cleanString('a\uDC00'), 'a\uFFFD');
    assert.equal(cleanString('\uDC00\uD800'), '\uFFFD\uFFFD');
    assert.equal(cleanString('😀\uD83D'), '😀\uFFFD');
    // Removing the NUL must not glue two halves into a new character.
    assert.equal(cleanString('\uD83D\u0000\uDE00'), '\uFFFD\uFFFD');
  });

  test('normalises to NFC, also across a removed control character', () => {
    assert.equal(cleanString('e\u0301'), '\u00e9');
    assert.equal(cleanString('e\u0000\u0301'), '\u00e9');
    assert.equal(cleanString('\u1100\u1161'), '\uAC00');
  });

  test('truncates at a code point boundary', () => {
    assert.equal(cleanString('abcdef', 3), 'abc');
    assert.equal(cleanString('😀😀😀', 2), '😀😀');
    assert.equal(truncateCodePoints('a😀b', 2), 'a😀');
    assert.equal(truncateCodePoints('abc', 0), '');
  });

  test('answers as its full steps do for any string (the printable-ASCII shortcut changes nothing)', () => {
    // The steps written out: well-formed, strip controls, NFC, cut at a code point boundary.
    const steps = (s: string, max: number) =>
      truncateCodePoints(
        s
          .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
          .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, '')
          .normalize('NFC'),
        max,
      );
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...'aZ09 ~\t\n\r\u0000\u001f\u007f\u0085e\u0301\uD800\uDC00\u00e9'), maxLength: 40 }),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 50 }), (s, max) => {
        assert.equal(cleanString(s, max), steps(s, max));
        assert.equal(cleanString(s), steps(s, Number.POSITIVE_INFINITY));
      }),
      { numRuns: 3_000 },
    );
  });

  test('a 1 MB unicode string is cleaned and cut to the limit quickly', () => {
    const unit = 'é😀\u0000e\u0301\uD800';
    const huge = unit.repeat(Math.ceil((1 << 20) / unit.length));
    const started = performance.now();
    const out = cleanString(huge, 8192);
    assert.ok(performance.now() - started < 2000);
    assert.equal([...out].length, 8192);
    assert.equal(out.slice(0, 5), 'é😀é\uFFFD');
    assert.ok(!CONTROL.test(out));
    assert.equal(out, out.normalize('NFC'));
  });
});

describe('sanitiseObject: fixes what is harmless', () => {
  test('cleans keys and values through the whole tree', () => {
    const input = JSON.parse(
      '{"na\\u0000me":"A\\u0000da\\u0007","cafe\\u0301":{"list":["x\\u009f",1e400,-1e400,true,null,{"k\\u001b":"v"}]},"n":1.5}',
    );
    const r = sanitiseObject(input, limits, 'properties');
    assert.deepEqual(r, {
      ok: true,
      value: { name: 'Ada', 'caf\u00e9': { list: ['x', null, null, true, null, { k: 'v' }] }, n: 1.5 },
    });
  });

  test('truncates long strings to maxStringLength', () => {
    assert.deepEqual(sanitiseObject({ s: 'x'.repeat(1000) }, limits), { ok: true, value: { s: 'x'.repeat(100) } });
  });

  test('non-finite and non-JSON values behave as JSON.stringify would', () => {
    const r = sanitiseObject({ nan: Number.NaN, inf: Infinity, u: undefined, f: () => 1, big: 10n, arr: [undefined, 10n] }, limits);
    assert.deepEqual(r, { ok: true, value: { nan: null, inf: null, big: null, arr: [null, null] } });
  });

  test('accepts keys of exactly 256 characters and depth exactly maxDepth', () => {
    const key = 'k'.repeat(MAX_KEY_LENGTH);
    assert.deepEqual(sanitiseObject({ [key]: 1 }, limits), { ok: true, value: { [key]: 1 } });
    assert.deepEqual(sanitiseValue(JSON.parse(nested(4)), limits), { ok: true, value: JSON.parse(nested(4)) });
    assert.deepEqual(sanitiseValue([[[[1]]]], limits), { ok: true, value: [[[[1]]]] });
  });

  test('builds plain objects whose prototype is Object.prototype', () => {
    const r = sanitiseObject(Object.assign(Object.create(null), { a: { b: 1 } }), limits);
    assert.ok(r.ok);
    assert.equal(Object.getPrototypeOf(r.value), Object.prototype);
    assert.equal(Object.getPrototypeOf(r.value.a), Object.prototype);
  });

  test('does not modify its input', () => {
    const input = JSON.parse('{"a\\u0000":["e\\u0301",{"b":1e400}]}');
    const copy = structuredClone(input);
    sanitiseObject(input, limits);
    assert.deepEqual(input, copy);
  });
});

describe('sanitiseObject: refuses what would change meaning', () => {
  test('forbidden keys at any depth, including inside arrays and after cleaning', () => {
    for (const key of ['__proto__', 'constructor', 'prototype', '__proto__\\u0000', 'proto\\u0085type']) {
      for (const json of [`{"${key}":1}`, `{"a":{"b":{"${key}":{"polluted":true}}}}`, `{"a":[1,{"${key}":1}]}`]) {
        const input = JSON.parse(json);
        const r = sanitiseObject(input, limits, 'traits');
        assert.equal(r.ok, false, json);
        assert.equal(r.ok ? '' : r.code, 'forbidden_key', json);
        assert.match(r.ok ? '' : r.message, /^traits: the key (__proto__|constructor|prototype) is not allowed$/);
      }
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('nesting deeper than maxDepth, up to 1000 levels', () => {
    const tooDeep = { ok: false, code: 'too_deep', message: 'properties: nested deeper than 4 levels' };
    assert.deepEqual(sanitiseObject(JSON.parse(nested(5)), limits, 'properties'), tooDeep);
    assert.deepEqual(sanitiseObject(JSON.parse(nested(1000)), limits, 'properties'), tooDeep);
    assert.deepEqual(sanitiseObject({ a: [[[[]]]] }, limits, 'properties'), tooDeep);
    const deepArrays = JSON.parse('['.repeat(1000) + ']'.repeat(1000));
    assert.deepEqual(sanitiseValue(deepArrays, limits, 'properties'), tooDeep);
  });

  test('more than maxProperties keys across the whole tree', () => {
    const twenty = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, { v: i }]));
    assert.equal(sanitiseObject(twenty, limits).ok, true);
    const many = { ...twenty, extra: [{ one: 1 }] };
    assert.deepEqual(sanitiseObject(many, limits, 'context'), {
      ok: false,
      code: 'too_many_properties',
      message: 'context: more than 20 keys',
    });
  });

  test('keys that are empty or longer than 256 characters after cleaning', () => {
    const expected = { ok: false, code: 'invalid_key', message: 'properties: keys must be 1-256 characters after cleaning' };
    assert.deepEqual(sanitiseObject({ '': 1 }, limits, 'properties'), expected);
    assert.deepEqual(sanitiseObject({ '\u0000\u0001': 1 }, limits, 'properties'), expected);
    assert.deepEqual(sanitiseObject({ a: { ['k'.repeat(257)]: 1 } }, limits, 'properties'), expected);
  });

  test('keys that collide as ClickHouse JSON paths', () => {
    const cases = [
      '{"a.b":1,"a":{"b":2}}',
      '{"a":{"b":2},"a.b":1}',
      '{"x":{"a.b.c":1,"a":{"b":{"c":2}}}}',
      '{"a.b":{"c":1},"a":{"b.c":2}}',
      '{"caf\\u00e9":1,"cafe\\u0301":2}',
      '{"a\\u0000":1,"a":2}',
      '{"l":[{"a.b":1,"a":{"b":2}}]}',
      '{"a.b":{},"a":{"b":{}}}',
    ];
    for (const json of cases) {
      const r = sanitiseObject(JSON.parse(json), limits, 'properties');
      assert.equal(r.ok ? '' : r.code, 'duplicate_property_path', json);
    }
    assert.deepEqual(sanitiseObject(JSON.parse('{"a.b":1,"a":{"b":2}}'), limits, 'properties'), {
      ok: false,
      code: 'duplicate_property_path',
      message: 'properties: two keys name the same property path (a.b)',
    });
  });

  test('paths that only look alike are fine', () => {
    const ok = [
      '{"a":{"b":1},"a.c":2}',
      '{"l":[{"a":1},{"a":2}]}',
      '{"l":[{"a.b":1}],"l.a":{"b":2}}',
      '{"A":1,"a":2}',
      '{"a":{},"a.b":1}',
    ];
    for (const json of ok) {
      assert.deepEqual(sanitiseObject(JSON.parse(json), limits), { ok: true, value: JSON.parse(json) }, json);
    }
  });

  test('a non-object where an object is required', () => {
    for (const v of [null, [], 'x', 1, undefined]) {
      assert.deepEqual(sanitiseObject(v, limits, 'traits'), { ok: false, code: 'invalid_event', message: 'traits: expected a JSON object' });
    }
  });
});

describe('sanitiseValue properties', () => {
  const hostileUnit = fc.oneof(
    fc.constantFrom('\u0000', '\u0007', '\u001f', '\u007f', '\u0085', '\u009f', '\uD800', '\uDC00', 'e\u0301', '.', '__proto__', 'a'),
    fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  );

  function everyString(v: unknown, check: (s: string) => void): void {
    if (typeof v === 'string') check(v);
    else if (Array.isArray(v)) v.forEach((x) => everyString(x, check));
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        check(k);
        everyString(x, check);
      }
    }
  }

  test('never throws, and a success holds only clean, well-formed NFC strings and finite numbers', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ stringUnit: hostileUnit }), fc.anything()), (input) => {
        const r = sanitiseValue(input, limits);
        if (!r.ok) return;
        everyString(r.value, (s) => {
          assert.ok(!CONTROL.test(s));
          assert.equal(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '').search(/[\uD800-\uDFFF]/), -1);
          assert.equal(s, s.normalize('NFC'));
        });
        assert.ok(!JSON.stringify(r.value).match(/"(__proto__|constructor|prototype)":/));
        assert.deepEqual(sanitiseValue(r.value, limits), r, 'sanitising twice changes nothing');
      }),
      { numRuns: 400 },
    );
  });
});
