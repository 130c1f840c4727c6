/**
 * `palisade` — the service and its operator commands. `serve` runs the
 * server; every other command talks to a running server's admin listener.
 */
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { createLogger } from '../log/index.ts';
import { adminClient, CliError } from './admin-client.ts';
import { registerGovernanceCommands } from './governance-commands.ts';
import { registerSettingsCommands } from './settings-commands.ts';
import { registerDoctorCommand } from './doctor.ts';
import { SecretsError } from '../secrets/file-secrets.ts';
import { printResult } from './output.ts';

function config(): Config {
  return loadConfig(process.env);
}

async function serve(): Promise<void> {
  const cfg = config();
  const logger = createLogger(cfg.logLevel);
  // Imported here so operator commands do not load the 540 MB engine library.
  const { startPalisade } = await import('../server.ts');
  const running = await startPalisade(cfg, logger);
  if (running.firstStart) {
    // Printed to the terminal once, never logged: this is a secret.
    process.stdout.write(
      [
        '',
        `Palisade is running: ingestion on https://localhost:${running.apiPort}, admin on https://127.0.0.1:${running.adminPort}`,
        `Admin token (shown once; also in ${cfg.dataDir}/secrets.json, mode 0600):`,
        `  ${running.adminToken}`,
        'Next, in another terminal:',
        '  npx palisade tenant create acme --json',
        '',
      ].join('\n') + '\n',
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      logger.error('shutdown deadline passed; exiting with what is in the spool');
      process.exit(1);
    }, cfg.shutdownDeadlineMs + 5_000);
    hard.unref();
    running.close().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ errName: err.name }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const program = new Command('palisade').description('Palisade analytics ingestion').showHelpAfterError();
const json = () => new Option('--json', 'print machine-readable JSON');

program.command('serve').description('run the server (HTTPS ingestion + admin listener)').action(serve);

const tenant = program.command('tenant').description('manage tenants');
tenant
  .command('create <name>')
  .description('create a tenant and its ingest, browser and query keys (shown once)')
  .option('--allowed-origin <origin...>', 'browser origins allowed to send events with the browser key')
  .addOption(json())
  .action(async (name: string, o: { allowedOrigin?: string[]; json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('POST', '/admin/tenants', { name, allowedOrigins: o.allowedOrigin ?? [] }), o.json);
  });
tenant
  .command('list')
  .addOption(json())
  .action(async (o: { json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('GET', '/admin/tenants'), o.json);
  });
tenant
  .command('update <id>')
  .option('--name <name>', 'rename the tenant')
  .option('--allowed-origin <origin...>', 'allow browser events from this origin')
  .option('--remove-allowed-origin <origin...>', 'stop allowing this origin')
  .option('--retention-days <days>', 'keep events this many days (0: forever); shortening backs up, then deletes older data at once')
  .addOption(json())
  .action(async (id: string, o: { name?: string; allowedOrigin?: string[]; removeAllowedOrigin?: string[]; retentionDays?: string; json?: boolean }) => {
    const c = await adminClient(config());
    const out: Record<string, unknown> = {};
    if (o.retentionDays !== undefined) {
      const days = Number(o.retentionDays);
      if (!Number.isInteger(days) || days < 0) throw new CliError('--retention-days must be a whole number of days (0: forever)', 2);
      out.retention = await c.call('PUT', `/admin/tenants/${encodeURIComponent(id)}/retention`, { retentionDays: days });
    }
    if (o.name !== undefined || o.allowedOrigin || o.removeAllowedOrigin || o.retentionDays === undefined) {
      const body = { name: o.name, addAllowedOrigins: o.allowedOrigin, removeAllowedOrigins: o.removeAllowedOrigin };
      Object.assign(out, await c.call<Record<string, unknown>>('PATCH', `/admin/tenants/${encodeURIComponent(id)}`, body));
    }
    printResult(out, o.json);
  });
tenant
  .command('stats <id>')
  .description('events stored (each messageId once), last event time, bytes on disk')
  .addOption(json())
  .action(async (id: string, o: { json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('GET', `/admin/tenants/${encodeURIComponent(id)}/stats`), o.json);
  });

const key = program.command('key').description('manage API keys');
key
  .command('create')
  .requiredOption('--tenant <id>', 'tenant id')
  .addOption(new Option('--scope <scope>', 'what the key may do').choices(['ingest', 'browser', 'query']).makeOptionMandatory())
  .addOption(json())
  .action(async (o: { tenant: string; scope: string; json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('POST', `/admin/tenants/${encodeURIComponent(o.tenant)}/keys`, { scope: o.scope }), o.json);
  });
key
  .command('list')
  .requiredOption('--tenant <id>', 'tenant id')
  .addOption(json())
  .action(async (o: { tenant: string; json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('GET', `/admin/tenants/${encodeURIComponent(o.tenant)}/keys`), o.json);
  });
key
  .command('revoke <keyId>')
  .description('revoke a key; every edge refuses it within 5 seconds')
  .addOption(json())
  .action(async (keyId: string, o: { json?: boolean }) => {
    const c = await adminClient(config());
    printResult(await c.call('DELETE', `/admin/keys/${encodeURIComponent(keyId)}`), o.json);
  });

registerGovernanceCommands(program, tenant, config);
registerSettingsCommands(tenant, config);
registerDoctorCommand(program, config);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Secrets that cannot be read (AWS unreachable, a bad secret): one clear line and exit 2, no stack.
  if (err instanceof ConfigError || err instanceof CliError || err instanceof SecretsError) {
    process.stderr.write(`palisade: ${err.message}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 2);
  }
  throw err;
}
