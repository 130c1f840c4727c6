/**
 * `palisade migrate [--plan]`.
 *
 * chDB binds one data directory per process and a running server owns it, so
 * this command works on a stopped server: it opens the data directory
 * itself, backs up what the pending migrations touch (refusing if that
 * fails), applies them and audits the run. While a server runs it refuses
 * with that explanation, and `--plan` asks the server instead. Why not apply
 * through the admin API: the running code is the old version; the safe
 * upgrade is stop → migrate → start the new version, and `serve` applies
 * pending migrations at start the same way, so `migrate` is for applying (or
 * seeing) them without starting the server.
 * On a ClickHouse server deployment (CLICKHOUSE_URL) there is no directory
 * to own; the same rules hold so that one migration runs at a time.
 */
import { pino } from 'pino';
import type { Config } from '../config/index.ts';
import { createLogger } from '../log/index.ts';
import { readSecrets } from '../secrets/file-secrets.ts';
import { adminClient, CliError } from './admin-client.ts';
import { printResult } from './output.ts';

async function runningServer(cfg: Config): Promise<boolean> {
  try {
    const c = await adminClient(cfg);
    await c.call('GET', '/healthz');
    return true;
  } catch {
    return false;
  }
}

export async function migrateCommand(cfg: Config, o: { plan?: boolean; json?: boolean }): Promise<void> {
  if (await runningServer(cfg)) {
    if (o.plan) {
      printResult(await (await adminClient(cfg)).call('GET', '/admin/migrations'), o.json);
      return;
    }
    throw new CliError(
      `a Palisade server is running on ${cfg.dataDir} and owns it (chDB binds one data directory per process). ` +
        'Stop it first, then run `palisade migrate` (or just restart it: `palisade serve` applies pending migrations at start, after the same backup). ' +
        '`palisade migrate --plan` works while it runs.',
    );
  }
  let diskKeyHex: string;
  try {
    diskKeyHex = (await readSecrets(cfg.dataDir)).diskKeyHex;
  } catch (err) {
    throw new CliError(`no Palisade data directory at ${cfg.dataDir} (${(err as Error).message}); \`palisade serve\` creates one`);
  }
  // Imported here so other commands do not load the 540 MB engine library.
  const { openWarehouse } = await import('../server.ts');
  const { planMigrations } = await import('../ops/migrate.ts');
  const { buildCore, runMigrations } = await import('../ops/governance.ts');
  let wh;
  try {
    wh = await openWarehouse(cfg, diskKeyHex);
  } catch (err) {
    throw new CliError(`cannot open ${cfg.dataDir}: is a Palisade server running on it? (${(err as Error).message.split('\n')[0]})`);
  }
  // Logs to stderr: stdout carries the result.
  const logger = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, pino.destination(2));
  try {
    if (o.plan) {
      printResult(await planMigrations(wh), o.json);
      return;
    }
    const { audit, backups } = buildCore(cfg, wh, logger);
    let run;
    try {
      run = await runMigrations({ warehouse: wh, audit, backups, logger, actor: 'system' });
    } catch (err) {
      throw new CliError(`migration refused: ${(err as Error).message}`);
    } finally {
      await audit.stop().catch(() => undefined);
    }
    printResult(run.applied.length === 0 ? { applied: [], message: 'nothing to migrate' } : run, o.json);
  } finally {
    await wh.close();
  }
}
