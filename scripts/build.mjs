#!/usr/bin/env node
// `npm run build`: the service as plain JavaScript, for the production image
// (Dockerfile) and anyone who runs it without tsx:
//   node scripts/build.mjs [--out-dir DIR]      default: dist/
//   node dist/src/cli/entry.cjs serve            behaves exactly like `npm start`
// tsc emits src/ and schemas/ (tsconfig.build.json: `.ts` specifiers rewritten
// to `.js`) laid out like the source tree, so every path the server resolves
// from import.meta.url points at the same place relative to itself; the files
// those paths name are copied beside the output. The build then checks every
// `new URL('…', import.meta.url)` in the output resolves, so an asset added
// later without a line here fails the build, not the first start.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const i = process.argv.indexOf('--out-dir');
const out = path.resolve(root, i >= 0 ? (process.argv[i + 1] ?? '') : 'dist');

// Non-TypeScript files the server reads at run time, and who reads them.
const ASSETS = [
  'src/dashboard', // src/http/routes/dashboard.ts: the dashboard page, script and styles
  'schemas/clickhouse', // src/storage/migrations.ts: the NNNN_*.sql migrations
  'sdk/browser/dist', // src/http/routes/sdk.ts: the committed browser snippet build
  'src/auth/argon2-child.cjs', // src/auth/argon2-verifier.ts: the verifier process's script (plain JavaScript)
];

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) fail(`tsc exited with ${r.status ?? r.signal}`);

for (const dir of ASSETS) {
  const from = path.join(root, dir);
  if (!existsSync(from)) fail(`${dir} is missing`);
  cpSync(from, path.join(out, dir), { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
}

function* jsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* jsFiles(full);
    else if (e.name.endsWith('.js')) yield full;
  }
}
let missing = 0;
let checked = 0;
for (const file of jsFiles(path.join(out, 'src'))) {
  for (const m of readFileSync(file, 'utf8').matchAll(/new URL\((['"`])([^'"`]+)\1,\s*import\.meta\.url\)/g)) {
    const target = fileURLToPath(new URL(m[2], pathToFileURL(file)));
    checked++;
    if (!existsSync(target)) {
      missing++;
      process.stderr.write(`build: ${path.relative(out, file)} reads ${m[2]} → ${path.relative(out, target)}, not in the build\n`);
    }
  }
}
if (missing > 0) fail(`${missing} run-time path(s) missing from ${out}: add them to ASSETS in scripts/build.mjs`);
process.stdout.write(`built ${path.relative(root, out) || out} (${checked} run-time paths checked)\n`);
