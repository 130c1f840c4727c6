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
 * On a cluster (PALISADE_CLICKHOUSE_CLUSTER) edges do not migrate, so this is
 * how migrations run: once, as a one-off job, while the edges keep serving
 * (migrations only add: the running code ignores what it does not know). It
 * needs no data directory, and refuses only when a local edge writes the
 * audit chain it would write (the same PALISADE_NODE_ID).
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

/** The audit node id of the edge listening on this host's admin port. */
async function runningNodeId(cfg: Config): Promise<string | undefined> {
  const health = await (await adminClient(cfg)).call<{ audit?: { nodeId?: string } }>('GET', '/healthz');
  return health.audit?.nodeId;
}

export async function migrateCommand(cfg: Config, o: { plan?: boolean; json?: boolean }): Promise<void> {
  const cluster = cfg.clickhouse.kind === 'server' ? cfg.clickhouse.cluster : undefined;
  if (cluster && !o.plan && (await runningServer(cfg)) && (await runningNodeId(cfg).catch(() => cfg.governance.nodeId)) === cfg.governance.nodeId) {
    throw new CliError(
      `the edge running here writes audit chain ${cfg.governance.nodeId}, which this migration would write too; ` +
        `run it with its own node id, e.g. PALISADE_NODE_ID=${cfg.governance.nodeId.slice(0, 56)}-migrate palisade migrate`,
    );
  }
  if (!cluster && (await runningServer(cfg))) {
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
  let diskKeyHex = '';
  try {
    // A server keeps its own disks: only the embedded engine needs the data directory's disk key.
    if (cfg.clickhouse.kind === 'embedded') diskKeyHex = (await readSecrets(cfg.dataDir)).diskKeyHex;
  } catch (err) {
    throw new CliError(`no Palisade data directory at ${cfg.dataDir} (${(err as Error).message}); \`palisade serve\` creates one`);
  }
  // Imported here so other commands do not load the 540 MB engine library.
  const { openWarehouse } = await import('../modules/warehouse.ts');
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
