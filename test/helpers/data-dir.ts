/**
 * Opens a stopped server's data directory in the test process, to read what
 * really landed in ClickHouse. Never call this while a server owns the
 * directory: chDB binds one data directory per process.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ChdbWarehouse } from '../../src/storage/chdb-warehouse.ts';

export async function openDataDir(dataDir: string): Promise<ChdbWarehouse> {
  const secrets = JSON.parse(await readFile(path.join(dataDir, 'secrets.json'), 'utf8')) as { diskKeyHex: string };
  return ChdbWarehouse.open({
    path: path.join(dataDir, 'clickhouse'),
    database: 'palisade',
    diskKeyHex: secrets.diskKeyHex,
    backupsPath: path.join(dataDir, 'backups'),
    timeoutMs: 30_000,
  });
}
