/**
 * Bound parameters rendered as typed literals, for the embedded engine only.
 *
 * Why: chdb's Node binding runs every parameterised statement one at a time,
 * process-wide (one `globalParamChain`, because the bundled engine's
 * parameter state is not isolated per connection; two at once clobber each
 * other or abort the engine). So a tenant's 3-second query held every other
 * tenant's query and the flusher's duplicate lookups behind it, whatever
 * connection each used. A statement without parameters is not chained and
 * runs on its own connection in parallel. Tenant reads (src/query/service.ts)
 * are therefore sent with their values rendered here, leaving the chain to
 * the flusher and the control plane.
 *
 * Safety: each `{name:Type}` placeholder becomes `CAST(<literal> AS <Type>)`,
 * so the value is parsed as the declared type exactly as a bound value would
 * be. A string literal escapes as chdb's own serialiser does (`stringLiteral`
 * escapes `\` and `'`, and NUL and C0 controls), for the value kinds our
 * SQL binds (string, finite number, bigint, boolean, arrays of those); any
 * other value, any type name outside a small grammar, and an Identifier
 * placeholder are refused rather than guessed. literal-params.test.ts fuzzes
 * the renderer against the engine's parser: every generated value must come
 * back from the engine byte for byte, as it does through binding.
 */
// Inside a single-quoted ClickHouse string only `\` (the escape introducer) and `'` can end the
// literal; NUL and the C0 controls are escaped too so the text round-trips (the same table as
// chdb's own escapeStringLiteral, which its package does not export).
const ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\0': '\\0', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const ESCAPE_RE = /[\\'\0\b\f\n\r\t]/g;

export function stringLiteral(s: string): string {
  return `'${s.replace(ESCAPE_RE, (c) => ESCAPES[c] as string)}'`;
}

// Types our SQL declares (src/query/sql.ts ParamType): a name with optional arguments of
// names, digits and quoted zone names, such as Array(String) or DateTime64(3, 'UTC').
const TYPE_RE = /^[A-Z][A-Za-z0-9]*(\((?:[A-Za-z0-9, ]|'[A-Za-z_/]*')*\))?$/;
const PLACEHOLDER_RE = /\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g;

function literal(value: unknown, depth = 0): string {
  if (typeof value === 'string') return stringLiteral(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a non-finite number cannot be a literal');
    // As chdb's binder: an integer beyond ±2^53 has already lost bits.
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) throw new Error('an unsafe integer cannot be a literal');
    // String(-0) is "0": the fuzz test found the sign lost (chdb's binder loses it too).
    return Object.is(value, -0) ? '-0.0' : String(value);
  }
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && depth === 0) return `[${value.map((v) => literal(v, 1)).join(',')}]`;
  throw new Error('unsupported parameter value');
}

/** `sql` with each `{name:Type}` replaced by `CAST(literal AS Type)`; one pass, so a rendered value is never rescanned. */
export function inlineParams(sql: string, params: Record<string, unknown>): string {
  return sql.replace(PLACEHOLDER_RE, (_, name: string, type: string) => {
    if (!Object.hasOwn(params, name)) throw new Error(`no value for parameter ${name}`);
    if (type === 'Identifier' || !TYPE_RE.test(type)) throw new Error(`parameter ${name}: type ${type} is not rendered as a literal`);
    return `CAST(${literal(params[name])} AS ${type})`;
  });
}
