#!/usr/bin/env node
// Runs every *.test.ts under the project with node's own test runner (tsx as
// the loader). Node 20's --test does not expand globs or look at .ts files,
// hence this script. Unit tests run in parallel; integration tests
// (*.int.test.ts) each start servers and an embedded ClickHouse engine, so
// they run two at a time on a 2-core machine.
//   node scripts/test.mjs            all tests
//   node scripts/test.mjs unit|int   one kind
//   node scripts/test.mjs <files…>   just those files
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const SKIP = new Set(['node_modules', 'data', 'dist', '.git', '.tmp', 'test-artifacts']);

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) find(full, out);
    else if (name.endsWith('.test.ts')) out.push(path.relative(root, full));
  }
  return out;
}

// Tests that measure latency against an unloaded baseline: they run last, on
// their own, because another suite sharing the two cores moves the baseline
// (the auth flood test measured 3.6x sharing the machine, 1.03x alone).
const SOLO = new Set(['test/auth-flood.int.test.ts']);

const args = process.argv.slice(2);
const all = find(root).sort();
let groups;
if (args.length > 0 && args[0] !== 'unit' && args[0] !== 'int') {
  groups = [{ files: args, concurrency: 1 }];
} else {
  const unit = all.filter((f) => !f.endsWith('.int.test.ts'));
  const int = all.filter((f) => f.endsWith('.int.test.ts') && !SOLO.has(f));
  const solo = all.filter((f) => SOLO.has(f));
  groups = [];
  if (args[0] !== 'int') groups.push({ files: unit, concurrency: 2 });
  if (args[0] !== 'unit') groups.push({ files: int, concurrency: 2 }, { files: solo, concurrency: 1 });
}

// Tests that need a tool npm cannot supply (promtool, hadolint) skip with the
// install command and write the tool here (test/helpers/external-tools.ts);
// the summary at the end names each, so a skip is never silent.
const scratch = mkdtempSync(path.join(tmpdir(), 'palisade-test-run-'));
const missingFile = path.join(scratch, 'missing-tools.jsonl');

let failed = false;
for (const g of groups) {
  if (g.files.length === 0) continue;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${g.concurrency}`, '--test-reporter=spec', ...g.files],
    { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test', PALISADE_MISSING_TOOLS: missingFile } },
  );
  if (r.status !== 0) failed = true;
}

const missing = new Map();
if (existsSync(missingFile)) {
  for (const line of readFileSync(missingFile, 'utf8').split('\n')) {
    if (!line) continue;
    const tool = JSON.parse(line);
    missing.set(tool.name, tool.install);
  }
}
rmSync(scratch, { recursive: true, force: true });
if (missing.size > 0) {
  const bar = '!'.repeat(78);
  const lines = [bar, `!!! ${missing.size} tool(s) npm cannot install are missing: the tests that need them were SKIPPED.`, '!!! Install them and run npm test again (.ci/run installs what Debian has):'];
  for (const [name, install] of missing) lines.push(`!!!   ${name}: ${install}`);
  lines.push(bar);
  process.stderr.write(`\n${lines.join('\n')}\n\n`);
}
process.exit(failed ? 1 : 0);
