/**
 * The committed snippet is what the source builds to, fits its size budget,
 * carries no zod (types only cross from schemas/), and README.md pins its
 * real hash.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { buildBrowserSdk, DIST, gzipSize, README, README_SRI_RE, sri } from './build.ts';

test('dist/ is up to date with src/ (run: node --import tsx sdk/browser/build.ts)', async () => {
  const built = await buildBrowserSdk();
  assert.equal(await readFile(DIST.js, 'utf8'), built.js, 'dist/palisade.js is stale');
  assert.equal(await readFile(DIST.mjs, 'utf8'), built.mjs, 'dist/palisade.mjs is stale');
});

test('under 6 KB gzipped, no zod, no other runtime code pulled in', async () => {
  for (const file of [DIST.js, DIST.mjs]) {
    const body = await readFile(file, 'utf8');
    assert.ok(gzipSize(body) < 6 * 1024, `${file}: ${gzipSize(body)} bytes gzipped`);
    assert.doesNotMatch(body, /zod|ZodError|safeParse/);
    assert.doesNotMatch(body, /\brequire\(|\bimport\(/);
  }
});

test('README.md pins the hash of the committed palisade.js', async () => {
  const pinned = README_SRI_RE.exec(await readFile(README, 'utf8'))?.[1];
  assert.equal(pinned, sri(await readFile(DIST.js)));
});
