/**
 * Bound parameters or typed literals on the embedded engine: how long does a
 * short query wait while two long ones run? chdb's Node binding runs every
 * parameterised statement one at a time, process-wide; a statement without
 * parameters runs on its own connection (src/storage/literal-params.ts).
 * Same engine, same statements, sent both ways. Prints a table.
 *   node --import tsx bench/param-chain.ts    (BENCH_CHAIN_ROWS, default 30 M: rows each long query scans)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChdbWarehouse } from '../src/storage/chdb-warehouse.ts';
import { fmt, percentile } from './load.ts';

const ROWS = Number(process.env.BENCH_CHAIN_ROWS ?? 30_000_000);
const SHORT = 20;

const LONG_SQL = 'SELECT count() AS n FROM numbers({rows:UInt64}) WHERE sipHash64(number, {salt:String}) % 7 = 0';
const SHORT_SQL = 'SELECT {x:String} AS x, {y:UInt32} AS y';

async function shortQueries(wh: ChdbWarehouse, inline: boolean): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SHORT; i++) {
    const t0 = performance.now();
    await wh.query(SHORT_SQL, { params: { x: `q${i}`, y: i }, inlineParams: inline, timeoutMs: 120_000 });
    out.push(performance.now() - t0);
  }
  return out;
}

async function mode(wh: ChdbWarehouse, inline: boolean): Promise<{ alone: number[]; loaded: number[]; longMs: number }> {
  const alone = await shortQueries(wh, inline);
  const t0 = performance.now();
  const longs = [0, 1].map((i) => wh.query(LONG_SQL, { params: { rows: ROWS, salt: `s${i}` }, inlineParams: inline, settings: { max_threads: 1 }, timeoutMs: 120_000 }));
  // Let both long statements reach the engine first.
  await new Promise((r) => setTimeout(r, 50));
  const loaded = await shortQueries(wh, inline);
  await Promise.all(longs);
  return { alone, loaded, longMs: performance.now() - t0 };
}

const dir = await mkdtemp(path.join(tmpdir(), 'palisade-chain-'));
const wh = await ChdbWarehouse.open({ path: path.join(dir, 'ch'), database: 'bench', diskKeyHex: randomBytes(32).toString('hex'), backupsPath: path.join(dir, 'b'), timeoutMs: 120_000 });
try {
  const lines = [
    `Short query latency while two long queries (${fmt(ROWS)} rows each) run, embedded engine, 4 connections`,
    '',
    '| values sent as | short query alone, p50 ms | first short query sent while they run, ms | both long ones took ms |',
    '|---|---:|---:|---:|',
  ];
  for (const inline of [false, true]) {
    const m = await mode(wh, inline);
    lines.push(`| ${inline ? 'typed literals' : 'bound parameters'} | ${fmt(percentile(m.alone, 50), 1)} | ${fmt(m.loaded[0] ?? NaN, 1)} | ${fmt(m.longMs)} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  await wh.close();
  await rm(dir, { recursive: true, force: true });
}
