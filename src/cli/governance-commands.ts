/**
 * Governance commands for operators: audit, backup, migrate, tenant deletion and
 * export, user deletion, support access. All but `migrate` go through the
 * running server's admin API (the server owns the data directory); see
 * migrate-command.ts for why `migrate` does not.
 */
import { createWriteStream } from 'node:fs';
import { Option, type Command } from 'commander';
import type { Config } from '../config/index.ts';
import { adminClient, CliError } from './admin-client.ts';
import { migrateCommand } from './migrate-command.ts';
import { printResult } from './output.ts';

const json = () => new Option('--json', 'print machine-readable JSON');
const enc = encodeURIComponent;

interface VerifyReport {
  ok: boolean;
  entries: number;
  chains: { nodeId: string; entries: number; problems: unknown[] }[];
  firstProblem?: { nodeId: string; kind: string; seq: number; message: string };
}

export function registerGovernanceCommands(program: Command, tenant: Command, config: () => Config): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('walk every node\'s hash chain; exit 1 naming the first entry altered, removed or reordered')
    .addOption(json())
    .action(async (o: { json?: boolean }) => {
      const c = await adminClient(config());
      const r = await c.call<VerifyReport>('POST', '/admin/audit/verify');
      if (o.json) printResult(r, true);
      else if (r.ok) process.stdout.write(`audit log intact: ${r.entries} entries in ${r.chains.length} chain(s)\n`);
      else process.stdout.write(`audit log TAMPERED: node ${r.firstProblem?.nodeId}: ${r.firstProblem?.message}\n`);
      if (!r.ok) process.exitCode = 1;
    });
  audit
    .command('export')
    .description("a tenant's own trail as JSON lines")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--since <time>', 'ISO-8601 time, or a duration back from now such as 30d')
    .option('--until <time>', 'ISO-8601 time, or a duration back from now')
    .action(async (o: { tenant: string; since?: string; until?: string }) => {
      const q = new URLSearchParams({ format: 'jsonl', ...(o.since ? { since: o.since } : {}), ...(o.until ? { until: o.until } : {}) });
      await (await adminClient(config())).download(`/admin/tenants/${enc(o.tenant)}/audit?${q}`, process.stdout);
    });

  const backup = program.command('backup').description('encrypted backups (BACKUP … TO the backup disk)');
  backup
    .command('create')
    .description('back up everything, or one tenant')
    .option('--tenant <id>', 'only this tenant\'s data')
    .addOption(json())
    .action(async (o: { tenant?: string; json?: boolean }) => {
      const c = await adminClient(config());
      printResult(await c.call('POST', '/admin/backups', o.tenant ? { tenant: o.tenant } : {}), o.json);
    });
  backup
    .command('list')
    .option('--tenant <id>', 'backups holding this tenant (its own and full ones)')
    .addOption(json())
    .action(async (o: { tenant?: string; json?: boolean }) => {
      const c = await adminClient(config());
      printResult(await c.call('GET', `/admin/backups${o.tenant ? `?tenant=${enc(o.tenant)}` : ''}`), o.json);
    });
  backup
    .command('verify <id>')
    .description('restore into a scratch database and compare row counts and checksums per partition')
    .addOption(json())
    .action(async (id: string, o: { json?: boolean }) => {
      const c = await adminClient(config());
      const r = await c.call<{ ok: boolean }>('POST', `/admin/backups/${enc(id)}/verify`);
      printResult(r, o.json);
      if (!r.ok) process.exitCode = 1;
    });
  backup
    .command('restore <id>')
    .description('put the backed-up partitions back (after a backup of what they replace); deletions made since are re-applied')
    .option('--tenant <id>', 'only this tenant\'s data')
    .addOption(json())
    .action(async (id: string, o: { tenant?: string; json?: boolean }) => {
      const c = await adminClient(config());
      printResult(await c.call('POST', `/admin/backups/${enc(id)}/restore`, o.tenant ? { tenant: o.tenant } : {}), o.json);
    });

  program
    .command('migrate')
    .description('apply pending migrations after a backup of what they touch (server stopped; `serve` does this at start)')
    .option('--plan', 'show what would run and what would be backed up; changes nothing')
    .addOption(json())
    .action(async (o: { plan?: boolean; json?: boolean }) => migrateCommand(config(), o));

  tenant
    .command('delete <id>')
    .description('revoke every key, back up, then drop the tenant\'s data and control-plane rows (the audit trail stays)')
    .option('--yes', 'confirm: this cannot be undone except by restoring the backup it takes')
    .addOption(json())
    .action(async (id: string, o: { yes?: boolean; json?: boolean }) => {
      if (!o.yes) throw new CliError(`refusing to delete ${id} without --yes (run \`palisade tenant export ${id}\` first if the customer wants their data)`, 2);
      const c = await adminClient(config());
      printResult(await c.call('DELETE', `/admin/tenants/${enc(id)}`), o.json);
    });
  tenant
    .command('export <id>')
    .description("the tenant's data as JSON lines (needs a live support grant from the tenant)")
    .option('--output <file>', 'write here instead of stdout')
    .action(async (id: string, o: { output?: string }) => {
      const sink = o.output ? createWriteStream(o.output, { mode: 0o600 }) : process.stdout;
      const client = await adminClient(config());
      // An export comes in bounded parts (src/ops/tenant-export.ts): follow each part's `next` cursor.
      let route = `/admin/tenants/${enc(id)}/export`;
      for (;;) {
        const last = await client.download(route, sink);
        let end: { record?: string; complete?: boolean; next?: string } = {};
        try {
          end = JSON.parse(last) as typeof end;
        } catch {
          break; // a cut-off download: its missing end line already says so
        }
        if (end.record !== 'end' || end.complete !== false || typeof end.next !== 'string') break;
        route = `/admin/tenants/${enc(id)}/export?after=${encodeURIComponent(end.next)}`;
      }
      if (o.output) await new Promise<void>((resolve, reject) => (sink as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));
    });

  const user = program.command('user').description("a tenant's end users");
  user
    .command('delete <userId>')
    .description(
      'GDPR deletion: every event of the user, of the ids its servers linked to it with a secret key, and of the anonymous ids named here; prints a receipt listing every id followed and the key that linked it (links a browser key asserted are listed, never followed: docs/deletion.md)',
    )
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--anonymous-id <id...>', 'anonymous ids the person showed to be theirs (e.g. their device\'s id): deleted too')
    .option('--dry-run', 'show what would be deleted (ids followed, counts per id, claims not followed) and delete nothing')
    .addOption(json())
    .action(async (userId: string, o: { tenant: string; anonymousId?: string[]; dryRun?: boolean; json?: boolean }) => {
      const c = await adminClient(config());
      const path = `/admin/tenants/${enc(o.tenant)}/users/${enc(userId)}`;
      const body = o.anonymousId ? { anonymousIds: o.anonymousId } : undefined;
      printResult(o.dryRun ? await c.call('POST', `${path}/deletion-plan`, body) : await c.call('DELETE', path, body), o.json);
    });

  const support = program.command('support').description('support access, only with the tenant\'s grant');
  support
    .command('grants')
    .requiredOption('--tenant <id>', 'tenant id')
    .addOption(json())
    .action(async (o: { tenant: string; json?: boolean }) => {
      const c = await adminClient(config());
      printResult(await c.call('GET', `/admin/tenants/${enc(o.tenant)}/support-grants`), o.json);
    });
  support
    .command('query')
    .description('run a /v1/query structured query for the tenant (403 without a live grant; always audited)')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--query <json>', 'the query, e.g. \'{"kind":"events","limit":20}\'')
    .addOption(json())
    .action(async (o: { tenant: string; query: string; json?: boolean }) => {
      let body: unknown;
      try {
        body = JSON.parse(o.query);
      } catch {
        throw new CliError('--query must be JSON', 2);
      }
      const c = await adminClient(config());
      printResult(await c.call('POST', `/admin/tenants/${enc(o.tenant)}/query`, body), o.json);
    });
}
