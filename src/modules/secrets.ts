/**
 * The service secrets (the 0600 file, or AWS Secrets Manager refreshed in the
 * background) and the TLS material every listener serves. First in the list:
 * a failure here stops start-up before anything else is opened.
 */
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { ServiceSecrets } from '../secrets/file-secrets.ts';
import { openSecrets, type SecretsProvider } from '../secrets/provider.ts';
import { loadChdb } from '../storage/chdb-warehouse.ts';
import { loadTls, type TlsMaterial } from '../tls/certificate.ts';
import type { Module } from '../runner.ts';

export interface SecretsModule extends Module {
  provider: SecretsProvider;
  /** The secrets as they were at start-up (the admin token and spool keys do not rotate in place). */
  secrets: ServiceSecrets;
  /** True when this start created the data directory's secrets (the admin token is shown once). */
  created: boolean;
  tls: TlsMaterial;
}

export async function openSecretsModule(config: Config, logger: Logger): Promise<SecretsModule> {
  // Before anything is written to the data directory: a first start that stops here must
  // not leave a secrets file behind whose admin token was never shown.
  if (config.clickhouse.kind === 'embedded') await loadChdb();
  // A failure to read them (file or AWS) stops start-up.
  const provider = await openSecrets(config, logger);
  const tls = await loadTls({ dataDir: config.dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile });
  return {
    name: 'secrets',
    provider,
    secrets: provider.current(),
    created: provider.created,
    tls,
    start: () => provider.start(),
    drain: () => provider.stop(),
  };
}
