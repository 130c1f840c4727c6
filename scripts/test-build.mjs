// The test run's JavaScript: every test file, the `palisade` command and the
// helper scripts tests spawn, bundled once by esbuild (the compiler tsx runs
// per module) before the pool starts. Each test process, spawned server and
// CLI call then starts as plain Node: no TypeScript loader thread, no
// transform or resolution through loader hooks per module. That start-up was
// ~0.3–0.5 CPU-seconds per process, and a full run starts ~250 of them.
//
// What stays as it was:
// - every module keeps its own `import.meta.url` (replaced by the source
//   file's URL before bundling), so paths a module resolves from it (assets,
//   migrations, fixtures, ROOT) point into the source tree as under tsx;
// - npm packages are not bundled: Node loads them from node_modules as usual
//   (the output directory gets a node_modules link to the project's);
// - the server keeps its lazy imports (operator commands do not load the
//   engine): its bundle is split at every dynamic import;
// - a source map beside each file, so a failure's stack names the .ts line
//   (the runner passes --enable-source-maps to test files).
// Each bundle sits at its source's path under the output directory with
// `.mjs` for `.ts` (test/helpers/palisade.ts finds them so); the `palisade`
// command's is bin/palisade.cjs. Running a test file by hand (`node --import
// tsx --test file.ts`) still uses tsx and the sources, as does `npm start`;
// test/cli.int.test.ts runs bin/palisade.js itself, so the command as shipped
// stays covered.
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

/** Replaces `import.meta.url|dirname|filename` with the source file's own, so a bundled module resolves paths as its source does. */
const sourceLocation = {
  name: 'source-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path));
      // Anything else on import.meta (resolve, a new field) would answer for the bundle's location.
      if (text.includes('import.meta')) return { errors: [{ text: `${path.relative(build.initialOptions.outbase ?? '', args.path)}: import.meta other than url/dirname/filename; teach scripts/test-build.mjs its meaning` }] };
      return { contents: text, loader: 'ts' };
    });
  },
};

/** The project's own package name (`palisade/sdk`, as the SDK's users write it) is bundled from its exports, not left to node_modules. */
function ownPackage(root) {
  const { name, exports } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return {
    name: 'own-package',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^${name}(/|$)`) }, (args) => {
        const target = exports[`.${args.path.slice(name.length)}`];
        return target ? { path: path.join(root, target) } : { errors: [{ text: `${args.path} is not in package.json's exports` }] };
      });
    },
  };
}

const common = { bundle: true, packages: 'external', platform: 'node', target: 'node20', sourcemap: 'linked', logLevel: 'warning', plugins: [sourceLocation] };

/**
 * Bundles `scripts` (test files and helper scripts, paths relative to `root`)
 * and the `palisade` command into `out`. The command's entry (src/cli/entry.cts)
 * stays CommonJS, for its reason (the thread-pool size before any ES module),
 * and loads the bundled main beside it.
 */
export async function buildForTests(root, out, scripts) {
  mkdirSync(out, { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  const esm = { ...common, plugins: [ownPackage(root), sourceLocation], format: 'esm', outbase: root, outExtension: { '.js': '.mjs' } };
  await Promise.all([
    esbuild.build({ ...esm, entryPoints: scripts.map((f) => path.join(root, f)), outdir: out }),
    esbuild.build({ ...esm, entryPoints: [path.join(root, 'src/cli/main.ts')], outbase: path.join(root, 'src/cli'), outdir: path.join(out, 'bin'), splitting: true }),
    esbuild.build({
      ...common,
      format: 'cjs',
      entryPoints: [path.join(root, 'src/cli/entry.cts')],
      outfile: path.join(out, 'bin/palisade.cjs'),
      plugins: [sourceLocation, { name: 'bundled-main', setup: (b) => b.onResolve({ filter: /^\.\/main\.ts$/ }, () => ({ path: './main.mjs', external: true })) }],
    }),
  ]);
}

/** Where `buildForTests` put the bundle of the script at `rel`. */
export const builtPath = (out, rel) => path.join(out, rel.replace(/\.ts$/, '.mjs'));
