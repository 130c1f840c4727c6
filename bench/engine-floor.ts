/**
 * What the embedded engine alone costs an event: the floor under the ingest
 * table's "server CPU µs/event". The rows are the ingest table's own
 * (bench/ingest-scenarios.ts), turned into rows by the ingest pipeline and
 * into the lines the flusher sends (compactLine), and written the way the
 * flusher writes them (EventWriter.writeMany, no message-id lookup: the
 * server made the ids), on the product's engine (the encrypted disk, the
 * migrated schema), with nothing else running in the process. Measured as
 * this process's CPU (every thread: the engine's parsing, part writing and
 * the JS side of the INSERT), per row:
 *   - INSERTs of 10,000 rows (the flusher's batch under a batch load) and of
 *     1,250 rows (what a 250 ms flush interval carries of the single-event
 *     load), the merges they start included; and INSERTs of one row: what
 *     every flush cycle pays however few rows it carries;
 *   - the merges the engine ran in the seconds after;
 *   - the same lines into a Null table with the same columns (parsing alone),
 *     and into one whose properties, traits and context are String instead
 *     of JSON: what the JSON type's parsing costs.
 * A child of bench/run.ts (BENCH_ONLY=engine runs it alone): chDB binds one
 * data directory per process.
 *   node --import tsx bench/engine-floor.ts
 *   BENCH_ENGINE_ROWS (default 200,000) rows of each shape.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { ingestBody } from '../src/ingest/pipeline.ts';
import { ChdbWarehouse } from '../src/storage/chdb-warehouse.ts';
import { EVENT_COLUMNS, EventWriter, toInsertRow, type InsertRow } from '../src/storage/event-writer.ts';
import { migrate } from '../src/storage/migrations.ts';
import { INGEST_SCENARIOS } from './ingest-scenarios.ts';
import { fmt } from './load.ts';

const ROWS = Number(process.env.BENCH_ENGINE_ROWS ?? 200_000);
const MERGE_SECONDS = 5;
const SINGLE_ROW_INSERTS = 40;
const TENANT = 'ten_enginefloor1';

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** `count` rows of the scenario's body, as the pipeline makes them and the spool holds them. */
function linesOf(body: string, route: string, count = ROWS): InsertRow[] {
  const limits = loadConfig({}).limits;
  const out: InsertRow[] = [];
  while (out.length < count) {
    const generatedIds = new Set<string>();
    const ctx = { tenantId: TENANT, keyId: 'key_enginefloor', requestId: randomUUID(), receivedAt: new Date(), ip: '127.0.0.1', userAgent: 'wrk', limits, generatedIds };
    const { rows } = ingestBody(route === 'batch' ? 'batch' : 'track', JSON.parse(body), ctx);
    for (const r of rows) out.push(toInsertRow(TENANT, r, generatedIds.has(r.message_id), out.length));
  }
  return out.slice(0, count);
}

/** CPU µs per row of writing `rows` in INSERTs of `per` rows, as the flusher does. */
async function inserts(writer: EventWriter, rows: InsertRow[], per: number): Promise<number> {
  const before = cpuMicros();
  for (let i = 0; i < rows.length; i += per) {
    await writer.writeMany([{ tenantId: TENANT, rows: rows.slice(i, i + per), token: `floor-${per}-${i}-${randomBytes(4).toString('hex')}` }], { lookup: 'client-ids' });
  }
  return (cpuMicros() - before) / rows.length;
}

/** CPU µs per row of the same lines into `table` (a Null table: parsing alone). */
async function parseOnly(wh: ChdbWarehouse, table: string, rows: InsertRow[], per: number): Promise<number> {
  const before = cpuMicros();
  for (let i = 0; i < rows.length; i += per) {
    const payload = Buffer.concat(rows.slice(i, i + per).map((r) => r.line));
    await wh.insertJson(table, payload, { format: 'JSONCompactEachRow', columns: EVENT_COLUMNS, settings: { optimize_on_insert: 0 } });
  }
  return (cpuMicros() - before) / rows.length;
}

const dir = await mkdtemp(path.join(tmpdir(), 'palisade-engine-floor-'));
const wh = await ChdbWarehouse.open({ path: path.join(dir, 'ch'), database: 'palisade', diskKeyHex: randomBytes(32).toString('hex'), backupsPath: path.join(dir, 'backups'), timeoutMs: 120_000 });
try {
  await migrate(wh);
  await wh.command('CREATE TABLE parse_json AS events ENGINE = Null');
  // The events table's columns in order, with String where it has JSON (a Null table takes no index or key).
  const cols = await wh.query<{ name: string; type: string }>("SELECT name, type FROM system.columns WHERE database = 'palisade' AND table = 'events' ORDER BY position");
  await wh.command(`CREATE TABLE parse_string (${cols.map((c) => `${c.name} ${c.type.startsWith('JSON') ? 'String' : c.type}`).join(', ')}) ENGINE = Null`);
  const writer = new EventWriter(wh);
  const batch = INGEST_SCENARIOS.find((s) => s.key === 'batch');
  const single = INGEST_SCENARIOS.find((s) => s.key === 'track');
  if (!batch || !single) throw new Error('bench/ingest-scenarios.ts lost its track or batch scenario');
  const out: string[] = [];
  for (const [s, per] of [[batch, 10_000], [single, 1_250]] as const) {
    const rows = linesOf(s.body, s.route);
    // The string-column table reads each object as its JSON text: what the line carries for JSON columns too.
    const asStrings = rows.map((r) => ({ ...r, line: Buffer.from(JSON.stringify((JSON.parse(r.line.toString()) as unknown[]).map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v))) + '\n') }));
    await parseOnly(wh, 'parse_json', rows.slice(0, per), per); // warm
    const json = await parseOnly(wh, 'parse_json', rows, per);
    const strings = await parseOnly(wh, 'parse_string', asStrings, per);
    const insert = await inserts(writer, rows, per);
    const merged = cpuMicros();
    await new Promise((r) => setTimeout(r, MERGE_SECONDS * 1000));
    const merges = (cpuMicros() - merged) / rows.length;
    const bytes = rows.reduce((n, r) => n + r.line.length, 0) / rows.length;
    out.push(`| ${s.name} | ${fmt(per)} | ${fmt(bytes)} B | ${fmt(insert, 1)} | ${fmt(merges, 1)} | ${fmt(json, 1)} | ${fmt(strings, 1)} |`);
  }
  // What an INSERT costs however few rows it carries: what each flush cycle with any row pays.
  await new Promise((r) => setTimeout(r, MERGE_SECONDS * 1000));
  const one = linesOf(single.body, single.route, SINGLE_ROW_INSERTS);
  const perInsert = (await inserts(writer, one, 1)) / 1000;
  process.stdout.write(
    [
      `Engine floor — ${fmt(ROWS)} rows per row shape, the process's CPU (every thread) per row`,
      '',
      '| rows of | rows per INSERT | line | INSERT into events, µs/row | merges in the next 5 s, µs/row | parsing alone (Null table), µs/row | parsing with String for the JSON columns, µs/row |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...out,
      '',
      `One INSERT of one row: ${fmt(perInsert, 1)} ms of CPU (the mean of ${SINGLE_ROW_INSERTS}). ` +
        'INSERT into events includes the merges the engine ran meanwhile; the merges column, those it ran in the 5 s after the last INSERT.',
      '',
    ].join('\n'),
  );
} finally {
  await wh.close();
  await rm(dir, { recursive: true, force: true });
}
