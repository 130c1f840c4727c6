/**
 * The sanitiser: turns an untrusted JSON tree into one that is safe to store
 * in a ClickHouse JSON column and to show in a dashboard. Harmless mess is
 * fixed (control characters, lone surrogates, non-NFC text, long strings,
 * non-finite numbers); anything that would change what a key *means* is
 * rejected with a code instead, because silently rewriting keys loses data or
 * merges two properties into one.
 *
 * Pure and total: it returns a Result for every input and never throws.
 */
import type { JsonObject, JsonValue } from '../../schemas/event-row.ts';
import type { Config } from '../config/index.ts';
import { fail, ok, RejectionCode, showName, type Result } from './result.ts';

export type SanitiseLimits = Pick<Config['limits'], 'maxStringLength' | 'maxDepth' | 'maxProperties'>;

/** ClickHouse's JSON type and most dashboards choke on longer paths long before this. */
export const MAX_KEY_LENGTH = 256;

// Keys that reach Object.prototype when some later consumer (a dashboard, an
// export script) copies the tree with plain assignment.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// C0 except \t \n \r, DEL, and C1 (U+0080-U+009F): invisible, break logs and
// terminals, and NUL truncates strings in more than one downstream tool.
const CONTROL_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;
const HAS_CONTROL_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
// Printable ASCII, tab, newline and return: what cleanString leaves as it is (but for its length).
const PLAIN_RE = /^[\t\n\r\x20-\x7e]*$/;

/** String length in code points, cut at `max` without splitting a surrogate pair. */
export function truncateCodePoints(s: string, max: number): string {
  // A string's code point count never exceeds its UTF-16 length.
  if (s.length <= max) return s;
  let points = 0;
  let i = 0;
  while (i < s.length && points < max) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
    points += 1;
  }
  return s.slice(0, i);
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Well-formed first (so removing a control character between two halves of a
 * broken pair cannot forge a new character), then strip, then NFC (which may
 * compose a base and a mark that were separated by a stripped character),
 * then cut.
 */
export function cleanString(s: string, maxLength: number = Number.POSITIVE_INFINITY): string {
  // Most of what arrives is printable ASCII: no surrogate, no control character, NFC
  // already, one code point per unit. One scan instead of three and an ICU call.
  if (PLAIN_RE.test(s)) return s.length <= maxLength ? s : s.slice(0, maxLength);
  // A lone surrogate has no UTF-8 form (ClickHouse's JSON input refuses its escape): U+FFFD instead.
  let out = s.toWellFormed();
  if (HAS_CONTROL_RE.test(out)) out = out.replace(CONTROL_RE, '');
  out = out.normalize('NFC');
  return truncateCodePoints(out, maxLength);
}

interface Walk {
  limits: SanitiseLimits;
  field: string;
  keys: number;
}

type Step<T> = Result<T> | { ok: true; value: undefined };

function cleanKey(raw: string, walk: Walk): Result<string> {
  const key = cleanString(raw);
  if (key.length === 0 || truncateCodePoints(key, MAX_KEY_LENGTH) !== key) {
    return fail(RejectionCode.INVALID_KEY, `${walk.field}: keys must be 1-${MAX_KEY_LENGTH} characters after cleaning`);
  }
  if (FORBIDDEN_KEYS.has(key)) return fail(RejectionCode.FORBIDDEN_KEY, `${walk.field}: the key ${key} is not allowed`);
  return ok(key);
}

/**
 * `paths` holds every leaf path of the current ClickHouse JSON object: that
 * type flattens `{"a.b":1}` and `{"a":{"b":1}}` to the same path `a.b`, so two
 * such keys in one event would silently overwrite each other. Objects inside
 * arrays are stored as their own JSON values, so each starts a fresh set.
 */
function walkObject(obj: object, depth: number, prefix: string, paths: Set<string>, walk: Walk): Result<JsonObject> {
  const entries: [string, JsonValue][] = [];
  for (const rawKey of Object.keys(obj)) {
    const rawValue: unknown = Reflect.get(obj, rawKey);
    // JSON.stringify drops undefined/function/symbol members; so do we.
    if (rawValue === undefined || typeof rawValue === 'function' || typeof rawValue === 'symbol') continue;
    walk.keys += 1;
    if (walk.keys > walk.limits.maxProperties) {
      return fail(RejectionCode.TOO_MANY_PROPERTIES, `${walk.field}: more than ${walk.limits.maxProperties} keys`);
    }
    const key = cleanKey(rawKey, walk);
    if (!key.ok) return key;
    const path = prefix + key.value;
    const isBranch = isObject(rawValue) && Object.keys(rawValue).length > 0;
    if (!isBranch) {
      if (paths.has(path)) return duplicate(walk, path);
      paths.add(path);
    }
    const value = isBranch
      ? walkBranch(rawValue, depth + 1, path, paths, walk)
      : walkValue(rawValue, depth + 1, walk);
    if (!value.ok) return value;
    entries.push([key.value, value.value ?? null]);
  }
  // Object.fromEntries defines own data properties, so even a key named
  // __proto__ (already refused above) could never reach a prototype.
  return ok(Object.fromEntries(entries));
}

function walkBranch(obj: object, depth: number, path: string, paths: Set<string>, walk: Walk): Result<JsonObject> {
  if (depth > walk.limits.maxDepth) return tooDeep(walk);
  // A non-empty child object adds no path of its own; its leaves do.
  return walkObject(obj, depth, `${path}.`, paths, walk);
}

function duplicate<T>(walk: Walk, path: string): Result<T> {
  const shown = showName(path);
  return fail(
    RejectionCode.DUPLICATE_PROPERTY_PATH,
    `${walk.field}: two keys name the same property path${shown ? ` (${shown})` : ''}`,
  );
}

function tooDeep<T>(walk: Walk): Result<T> {
  return fail(RejectionCode.TOO_DEEP, `${walk.field}: nested deeper than ${walk.limits.maxDepth} levels`);
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value at `depth` (the top-level tree is depth 1). */
function walkValue(v: unknown, depth: number, walk: Walk): Step<JsonValue> {
  if (typeof v === 'string') return ok(cleanString(v, walk.limits.maxStringLength));
  if (typeof v === 'number') return ok(Number.isFinite(v) ? v : null);
  if (typeof v === 'boolean' || v === null) return ok(v);
  if (Array.isArray(v)) {
    if (depth > walk.limits.maxDepth) return tooDeep(walk);
    const out: JsonValue[] = [];
    for (const item of v) {
      const r = walkValue(item, depth + 1, walk);
      if (!r.ok) return r;
      out.push(r.value ?? null); // JSON.stringify writes undefined array items as null
    }
    return ok(out);
  }
  if (isObject(v)) {
    if (depth > walk.limits.maxDepth) return tooDeep(walk);
    return walkObject(v, depth, '', new Set(), walk);
  }
  // bigint, undefined, function, symbol: not JSON; stored as null.
  return { ok: true, value: undefined };
}

/**
 * Sanitises any JSON value. `field` names the tree in rejection messages
 * ("properties", "context"); messages never contain a value.
 */
export function sanitiseValue(value: unknown, limits: SanitiseLimits, field = 'value'): Result<JsonValue> {
  try {
    const r = walkValue(value, 1, { limits, field, keys: 0 });
    return r.ok ? ok(r.value ?? null) : r;
  } catch {
    // Unreachable for anything JSON.parse produces (getters and proxies are
    // not JSON); the promise to callers is "never throws", so keep it.
    return fail(RejectionCode.INVALID_EVENT, `${field}: could not be read`);
  }
}

/** Sanitises a tree that must be an object: properties, traits, context. */
export function sanitiseObject(value: unknown, limits: SanitiseLimits, field = 'value'): Result<JsonObject> {
  if (!isObject(value)) return fail(RejectionCode.INVALID_EVENT, `${field}: expected a JSON object`);
  const r = sanitiseValue(value, limits, field);
  if (!r.ok) return r;
  return isObject(r.value) && !Array.isArray(r.value) ? ok(r.value) : fail(RejectionCode.INVALID_EVENT, `${field}: expected a JSON object`);
}
