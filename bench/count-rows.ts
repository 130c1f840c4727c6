/**
 * Child process of bench/run.ts: opens a stopped server's data directory and
 * prints, per tenant, the physical rows and the distinct message ids in
 * `events` (bench/event-counts.ts).
 * A child because chDB binds one data directory per process, and the bench's
 * later parts open their own.
 */
import { openDataDir } from '../test/helpers/data-dir.ts';
import { eventCounts } from './event-counts.ts';

const [dataDir, ...tenants] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: count-rows.ts <dataDir> <tenantId>...');
const wh = await openDataDir(dataDir);
try {
  process.stdout.write(JSON.stringify(await eventCounts(wh, tenants)) + '\n');
} finally {
  await wh.close();
}
