/**
 * Step 6 of the data flow (docs/architecture.md), the tenant's privacy rules, as one pure function of
 * (row, settings, request facts, tenant key): consent and Do-Not-Track, the
 * bot flag, the IP policy, paths to drop or hash, and the opt-in scrubber.
 * It either keeps the row (a new object; the input is not touched) or says
 * why it was discarded. It never logs and never throws for any input: the
 * values it handles are exactly what must never reach a log.
 */
import { createHmac } from 'node:crypto';
import { isbot } from 'isbot';
import { boundedCache } from '../cache/bounded.ts';
import type { EventRow, JsonObject, JsonValue } from '../../schemas/event-row.ts';
import type { IpPolicy, TenantSettings } from '../../schemas/tenant-settings.ts';
import { ipPrefix } from '../net/ip-prefix.ts';
import { scrubString } from './pii-scrub.ts';

export type DropReason = 'consent' | 'dnt' | 'bot';

export interface PrivacyContext {
  settings: TenantSettings;
  /** HMAC-SHA-256 key for this tenant (HKDF of the PII master key); needed only when piiHash is set. */
  hashKey: Buffer | undefined;
  /** `DNT: 1` or `Sec-GPC: 1` on the request. */
  doNotTrack: boolean;
  /**
   * The request came with a browser key: the User-Agent header is the
   * visitor's. A server SDK's own agent ("analytics-node", "curl") says
   * nothing about the visitor, so for other keys only context.userAgent counts.
   */
  browser: boolean;
}

export type PrivacyOutcome = { keep: true; row: EventRow } | { keep: false; reason: DropReason };

type Tree = 'properties' | 'traits' | 'context';
interface Rule {
  tree: Tree;
  segments: string[];
  action: 'drop' | 'hash';
  /** `*.email`: the segments match at any depth of every tree. */
  deep: boolean;
}

/**
 * Where Segment's libraries put a page's fields twice: `properties.url` of a
 * page call and `context.page.url` of every call from that page carry the
 * same value (analytics.js pageDefaults).
 */
export const PAGE_KEYS = ['path', 'referrer', 'search', 'title', 'url'] as const;
const PAGE_KEY_SET: ReadonlySet<string> = new Set(PAGE_KEYS);

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Segment's consent: context.consent.categoryPreferences, e.g. { Analytics: false }. */
export function consentRefused(context: JsonObject): boolean {
  const consent = Object.hasOwn(context, 'consent') ? context.consent : undefined;
  if (!isObject(consent)) return false;
  const prefs = Object.hasOwn(consent, 'categoryPreferences') ? consent.categoryPreferences : undefined;
  if (!isObject(prefs)) return false;
  return Object.entries(prefs).some(([k, v]) => k.toLowerCase() === 'analytics' && v === false);
}

// The last address truncated: every event of a request has the same one.
let lastIp = '';
let lastPrefix = '';

export function applyIpPolicy(ip: string, policy: IpPolicy): string {
  if (policy === 'full') return ip;
  if (policy === 'drop') return '';
  if (ip !== lastIp) {
    lastPrefix = ipPrefix(ip, 24, 48);
    lastIp = ip;
  }
  return lastPrefix;
}

export function hashValue(key: Buffer, v: JsonValue): string {
  // Typed input, so the string "1" and the number 1 do not collide.
  const input = typeof v === 'string' ? `s:${v}` : `j:${JSON.stringify(v)}`;
  return createHmac('sha256', key).update(input).digest('hex');
}

/**
 * isbot runs one large regular expression per call (tens of µs on a long
 * agent); a site's traffic repeats a few hundred agents, so the verdict is
 * cached per agent. 4,096 agents of at most 1 KiB each bound it to ~4 MiB;
 * a longer agent is judged afresh each time rather than cached. The verdict
 * is a pure function of the string, so sharing it across tenants leaks nothing.
 */
const BOT_CACHE_AGENTS = 4_096;
const BOT_CACHE_MAX_AGENT = 1_024;
const botVerdicts = boundedCache<string, boolean>(BOT_CACHE_AGENTS);

export function isBotAgent(agent: string): boolean {
  if (agent === '') return false;
  if (agent.length > BOT_CACHE_MAX_AGENT) return isbot(agent);
  let verdict = botVerdicts.get(agent);
  if (verdict === undefined) {
    verdict = isbot(agent);
    botVerdicts.set(agent, verdict);
  }
  return verdict;
}

/**
 * The places the same data travels in a Segment-shaped event: `traits` and
 * `context.traits` (identify puts traits in one, track calls from a browser
 * library in the other), and the page fields in `properties` and
 * `context.page`. A rule on one place applies to the others.
 */
function mirrors(tree: Tree, segments: string[]): [Tree, string[]][] {
  const [first, ...rest] = segments;
  if (tree === 'traits') return [['context', ['traits', ...segments]]];
  if (tree === 'context' && first === 'traits') return [['traits', rest]];
  const pageKeys = (k: string | undefined) => (k === '*' ? [...PAGE_KEYS] : k !== undefined && PAGE_KEY_SET.has(k) ? [k] : []);
  if (tree === 'properties') return pageKeys(first).map((k) => ['context', ['page', k, ...rest]]);
  if (tree === 'context' && first === 'page') {
    // `context.page` itself: every page field, wherever it travels.
    const keys = rest.length === 0 ? [...PAGE_KEYS] : pageKeys(rest[0]);
    return keys.map((k) => ['properties', [k, ...rest.slice(1)]]);
  }
  return [];
}

function compileRules(settings: TenantSettings): Rule[] {
  const rules: Rule[] = [];
  const seen = new Set<string>();
  const add = (tree: Tree, segments: string[], action: Rule['action'], deep: boolean) => {
    const id = `${action}:${deep ? '*' : tree}:${segments.join('\u0000')}`;
    if (seen.has(id)) return;
    seen.add(id);
    rules.push({ tree, segments, action, deep });
  };
  for (const [paths, action] of [[settings.piiDrop, 'drop'], [settings.piiHash, 'hash']] as const) {
    for (const p of paths) {
      const [tree, ...segments] = p.split('.');
      if (segments.length === 0) continue;
      if (tree === '*') {
        add('properties', segments, action, true);
        continue;
      }
      if (tree !== 'properties' && tree !== 'traits' && tree !== 'context') continue;
      add(tree, segments, action, false);
      for (const [t, segs] of mirrors(tree, segments)) add(t, segs, action, false);
    }
  }
  // Drop wins over hash when both name the same place.
  return rules.sort((a, b) => (a.action === b.action ? 0 : a.action === 'drop' ? -1 : 1));
}

// Compiled once per settings object: the key table hands out the same object
// until a tenant's settings change, so the hot path compiles nothing.
const compiled = new WeakMap<TenantSettings, Rule[]>();
function compile(settings: TenantSettings): Rule[] {
  let rules = compiled.get(settings);
  if (!rules) {
    rules = compileRules(settings);
    compiled.set(settings, rules);
  }
  return rules;
}

/** Does a deep rule's segments match the end of `path` (or of one of its ancestors)? */
function coversDeep(rule: string[], path: string[]): boolean {
  for (let end = path.length; end >= rule.length; end--) {
    let ok = true;
    for (let i = 0; i < rule.length && ok; i++) ok = rule[i] === '*' || rule[i] === path[end - rule.length + i];
    if (ok) return true;
  }
  return false;
}

/** Does `rule` name `path` or one of its ancestors? */
function covers(rule: string[], path: string[]): boolean {
  if (rule.length > path.length) return false;
  for (let i = 0; i < rule.length; i++) if (rule[i] !== '*' && rule[i] !== path[i]) return false;
  return true;
}

/** Could `rule` still match something below `path`? */
function mayMatchBelow(rule: string[], path: string[]): boolean {
  if (rule.length <= path.length) return false;
  for (let i = 0; i < path.length; i++) if (rule[i] !== '*' && rule[i] !== path[i]) return false;
  return true;
}

interface Walk {
  rules: Rule[];
  hashKey: Buffer | undefined;
  scrub: boolean;
}

function leaf(v: JsonValue, action: Rule['action'] | undefined, w: Walk): JsonValue | undefined {
  if (action === 'drop') return undefined;
  // Hashing without a key would store the raw value: drop it instead.
  if (action === 'hash') return w.hashKey ? hashValue(w.hashKey, v) : undefined;
  return w.scrub && typeof v === 'string' ? scrubString(v) : v;
}

function walkValue(v: JsonValue, path: string[], rules: Rule[], w: Walk, inherited: Rule['action'] | undefined): JsonValue | undefined {
  // Rules are sorted drop-first: a drop below a hashed subtree still drops.
  const own = rules.find((r) => (r.deep ? coversDeep(r.segments, path) : covers(r.segments, path)))?.action;
  const hit = own === 'drop' ? 'drop' : (own ?? inherited);
  if (hit === 'drop') return undefined;
  if (isObject(v)) return walkObject(v, path, rules, w, hit);
  if (Array.isArray(v) && hit === undefined) {
    // Objects inside an array sit at the array's path (ClickHouse stores Array(JSON)).
    if (!w.scrub && !rules.some((r) => r.deep || mayMatchBelow(r.segments, path))) return v;
    return v.map((x) => walkValue(x, path, rules, w, undefined) ?? null);
  }
  return leaf(v, hit, w);
}

function walkObject(obj: JsonObject, path: string[], rules: Rule[], w: Walk, inherited: Rule['action'] | undefined): JsonObject {
  const live = rules.filter((r) => r.deep || covers(r.segments, path) || mayMatchBelow(r.segments, path));
  if (live.length === 0 && !inherited && !w.scrub) return obj;
  const out: [string, JsonValue][] = [];
  for (const [k, v] of Object.entries(obj)) {
    // A key "a.b" is the path a → b, as ClickHouse flattens it.
    const next = walkValue(v, [...path, ...k.split('.')], live, w, inherited);
    // A key is data too (`{"alice@example.com": 1}`): the scrubber masks it like a value.
    if (next !== undefined) out.push([w.scrub ? scrubString(k) : k, next]);
  }
  return Object.fromEntries(out);
}

function applyTree(tree: Tree, obj: JsonObject, rules: Rule[], w: Walk): JsonObject {
  if (rules.length === 0 && !w.scrub) return obj;
  const mine = rules.filter((r) => r.deep || r.tree === tree);
  if (mine.length === 0 && !w.scrub) return obj;
  return walkObject(obj, [], mine, w, undefined);
}

function botAgent(row: EventRow, browser: boolean): string {
  const ua = Object.hasOwn(row.context, 'userAgent') ? row.context.userAgent : undefined;
  if (typeof ua === 'string' && ua !== '') return ua;
  return browser ? row.user_agent : '';
}

export function applyPrivacy(row: EventRow, p: PrivacyContext): PrivacyOutcome {
  const s = p.settings;
  if (s.consentPolicy === 'honour' && consentRefused(row.context)) return { keep: false, reason: 'consent' };
  if (s.dntPolicy === 'honour' && p.doNotTrack) return { keep: false, reason: 'dnt' };
  const agent = botAgent(row, p.browser);
  const bot = isBotAgent(agent);
  if (bot && s.botPolicy === 'drop') return { keep: false, reason: 'bot' };

  const rules = compile(s);
  const w: Walk = { rules, hashKey: p.hashKey, scrub: s.scrubPii };
  let context = applyTree('context', row.context, rules, w);
  // A client-supplied context.ip (Segment's server libraries send one) gets the same policy as ours.
  if (Object.hasOwn(context, 'ip') && typeof context.ip === 'string' && s.ipPolicy !== 'full') {
    const ip = applyIpPolicy(context.ip, s.ipPolicy);
    context = Object.fromEntries(Object.entries(context).flatMap(([k, v]) => (k !== 'ip' ? [[k, v]] : ip === '' ? [] : [[k, ip]])));
  }
  // Every column written out, in the row's order, not `{ ...row, … }`: V8 gave each row
  // copied by that spread a hidden class of its own, so every later read of a row (the
  // guard, the spool encoder, JSON.stringify) went megamorphic, ~1.5 µs an event.
  const out: EventRow = {
    tenant_id: row.tenant_id,
    message_id: row.message_id,
    type: row.type,
    event: row.event,
    user_id: row.user_id,
    anonymous_id: row.anonymous_id,
    group_id: row.group_id,
    previous_id: row.previous_id,
    timestamp: row.timestamp,
    original_timestamp: row.original_timestamp,
    sent_at: row.sent_at,
    received_at: row.received_at,
    properties: applyTree('properties', row.properties, rules, w),
    traits: applyTree('traits', row.traits, rules, w),
    context,
    ip: applyIpPolicy(row.ip, s.ipPolicy),
    user_agent: row.user_agent,
    key_id: row.key_id,
    is_bot: bot ? 1 : 0,
  };
  if (s.scrubPii) scrubIdentity(out, p.hashKey);
  return { keep: true, row: out };
}

/**
 * The scrubber on what is not a JSON value: the event name and the ids. An
 * id that holds personal data (a user id that is an e-mail address) is
 * replaced by `pii_` and its HMAC under the tenant's key, not by a mask: a
 * mask would merge every such user into one, the HMAC keeps them apart and
 * stable (the same address is the same user tomorrow). Without a key (no
 * PII master configured) the masked form is all that can be kept.
 */
function scrubIdentity(row: EventRow, key: Buffer | undefined): void {
  row.event = scrubString(row.event);
  row.user_id = scrubId(row.user_id, key);
  row.anonymous_id = scrubId(row.anonymous_id, key);
  row.group_id = scrubId(row.group_id, key);
  row.previous_id = scrubId(row.previous_id, key);
}

export function scrubId(id: string, key: Buffer | undefined): string {
  if (id === '') return id;
  const masked = scrubString(id);
  if (masked === id) return id;
  return key ? `pii_${hashValue(key, id).slice(0, 32)}` : masked;
}
