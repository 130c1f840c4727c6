/**
 * `palisade tenant settings <id> [flags]`: shows a tenant's edge settings, or
 * changes the ones named by flags. Path lists are edited, not
 * replaced: --pii-drop adds paths, --remove-pii-drop takes them away.
 * Query caps are edited one field at a time too: 'default' removes one,
 * --query-caps default removes them all.
 */
import { Option, type Command } from 'commander';
import type { QueryCaps, TenantSettings } from '../../schemas/tenant-settings.ts';
import { BOT_POLICIES, CONSENT_POLICIES, DNT_POLICIES, IP_POLICIES } from '../../schemas/tenant-settings.ts';
import type { Config } from '../config/index.ts';
import { adminClient, CliError } from './admin-client.ts';
import { printResult } from './output.ts';

interface Flags {
  ipPolicy?: string;
  piiDrop?: string[];
  removePiiDrop?: string[];
  piiHash?: string[];
  removePiiHash?: string[];
  scrubPii?: string;
  botPolicy?: string;
  consentPolicy?: string;
  dntPolicy?: string;
  revokeOnPlainHttp?: string;
  rateLimit?: string;
  rateBurst?: string;
  queryCaps?: string;
  queryMaxConcurrent?: string;
  queryTimeoutSeconds?: string;
  queryMaxRowsToRead?: string;
  queriesPerMinute?: string;
  json?: boolean;
}

const onOff = (name: string) => new Option(`--${name} <on|off>`).choices(['on', 'off']);

function editList(current: string[], add: string[] | undefined, remove: string[] | undefined): string[] | undefined {
  if (!add && !remove) return undefined;
  const set = new Set(current);
  for (const p of add ?? []) set.add(p);
  for (const p of remove ?? []) set.delete(p);
  return [...set].sort();
}

function wholeNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${flag} must be a whole number`, 2);
  return n;
}

const QUERY_FLAGS = [
  ['queryMaxConcurrent', 'maxConcurrent', '--query-max-concurrent'],
  ['queryTimeoutSeconds', 'timeoutSeconds', '--query-timeout-seconds'],
  ['queryMaxRowsToRead', 'maxRowsToRead', '--query-max-rows-to-read'],
  ['queriesPerMinute', 'queriesPerMinute', '--queries-per-minute'],
] as const;

/** The edited query caps, or undefined when no query flag was given; the server checks them against its ceilings. */
function queryCapsFrom(o: Flags, current: QueryCaps | null): QueryCaps | null | undefined {
  if (o.queryCaps !== undefined && o.queryCaps !== 'default') throw new CliError("--query-caps takes only 'default' (remove every query cap)", 2);
  const given = QUERY_FLAGS.filter(([flag]) => o[flag] !== undefined);
  if (o.queryCaps === undefined && given.length === 0) return undefined;
  const caps: QueryCaps = o.queryCaps === 'default' ? {} : { ...current };
  for (const [flag, field, name] of given) {
    const v = o[flag] as string;
    if (v === 'default') delete caps[field];
    else caps[field] = wholeNumber(name, v);
  }
  return Object.keys(caps).length > 0 ? caps : null;
}

function patchFrom(o: Flags, current: TenantSettings): Partial<TenantSettings> {
  const patch: Partial<TenantSettings> = {};
  if (o.ipPolicy) patch.ipPolicy = o.ipPolicy as TenantSettings['ipPolicy'];
  const drop = editList(current.piiDrop, o.piiDrop, o.removePiiDrop);
  if (drop) patch.piiDrop = drop;
  const hash = editList(current.piiHash, o.piiHash, o.removePiiHash);
  if (hash) patch.piiHash = hash;
  if (o.scrubPii) patch.scrubPii = o.scrubPii === 'on';
  if (o.botPolicy) patch.botPolicy = o.botPolicy as TenantSettings['botPolicy'];
  if (o.consentPolicy) patch.consentPolicy = o.consentPolicy as TenantSettings['consentPolicy'];
  if (o.dntPolicy) patch.dntPolicy = o.dntPolicy as TenantSettings['dntPolicy'];
  if (o.revokeOnPlainHttp) patch.revokeOnPlainHttp = o.revokeOnPlainHttp === 'on';
  if (o.rateLimit === 'default') patch.rateLimit = null;
  else if (o.rateLimit !== undefined || o.rateBurst !== undefined) {
    const eventsPerSecond = o.rateLimit !== undefined ? wholeNumber('--rate-limit', o.rateLimit) : current.rateLimit?.eventsPerSecond;
    if (eventsPerSecond === undefined) throw new CliError('--rate-burst needs --rate-limit too (this tenant uses the node default)', 2);
    const burst = o.rateBurst !== undefined ? wholeNumber('--rate-burst', o.rateBurst) : (current.rateLimit?.burst ?? Math.max(1, eventsPerSecond * 10));
    patch.rateLimit = { eventsPerSecond, burst };
  }
  const query = queryCapsFrom(o, current.query ?? null);
  if (query !== undefined) patch.query = query;
  return patch;
}

export function registerSettingsCommands(tenant: Command, config: () => Config): void {
  tenant
    .command('settings <id>')
    .description("show a tenant's privacy, bot, consent, rate-limit and query-cap settings, or change the ones given")
    .addOption(new Option('--ip-policy <policy>', 'client IP stored with events: full, truncate (/24, /48) or drop').choices(IP_POLICIES))
    .option('--pii-drop <path...>', 'drop this property/trait path from every event (e.g. properties.email)')
    .option('--remove-pii-drop <path...>', 'stop dropping this path')
    .option('--pii-hash <path...>', 'store this path as an HMAC-SHA-256 under the tenant\'s key (equal values still group)')
    .option('--remove-pii-hash <path...>', 'stop hashing this path')
    .addOption(onOff('scrub-pii'))
    .addOption(new Option('--bot-policy <policy>', 'bot traffic: flag (is_bot = 1) or drop').choices(BOT_POLICIES))
    .addOption(new Option('--consent-policy <policy>', 'context.consent saying no to analytics: honour (drop the event) or ignore').choices(CONSENT_POLICIES))
    .addOption(new Option('--dnt-policy <policy>', 'DNT: 1 / Sec-GPC: 1 requests: honour (drop) or ignore').choices(DNT_POLICIES))
    .addOption(onOff('revoke-on-plain-http'))
    .option('--rate-limit <events-per-second>', "per-key event rate (0: unlimited; 'default': this node's default)")
    .option('--rate-burst <events>', 'per-key burst')
    .option('--query-max-concurrent <n>', "this tenant's queries running or waiting at once (at most PALISADE_QUERY_MAX_PER_TENANT; 'default': the node's)")
    .option('--query-timeout-seconds <s>', "time limit of one query (at most PALISADE_QUERY_TIMEOUT_MS; 'default': the node's)")
    .option('--query-max-rows-to-read <n>', "rows one query may read (at most PALISADE_QUERY_MAX_ROWS_TO_READ; 'default': the node's)")
    .option('--queries-per-minute <n>', "queries a minute, as a token bucket (429 too_many_queries past it; 'default': no limit)")
    .option('--query-caps <default>', "'default': remove every query cap (the node's PALISADE_QUERY_* limits apply)")
    .addOption(new Option('--json', 'print machine-readable JSON'))
    .action(async (id: string, o: Flags) => {
      const c = await adminClient(config());
      const route = `/admin/tenants/${encodeURIComponent(id)}/settings`;
      const current = await c.call<{ tenantId: string; settings: TenantSettings }>('GET', route);
      const patch = patchFrom(o, current.settings);
      printResult(Object.keys(patch).length === 0 ? current : await c.call('PATCH', route, patch), o.json);
    });
}
