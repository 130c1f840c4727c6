/**
 * Tools a few tests need that npm cannot supply (native binaries with no npm
 * package). Such a test never skips silently: its skip reason says how to
 * install the tool, and the tool is recorded in the file scripts/test.mjs
 * names in PALISADE_MISSING_TOOLS, so the runner ends with a loud summary.
 * .ci/run installs what it can, so CI runs these tests for real.
 */
import { appendFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface ExternalTool {
  name: string;
  /** Arguments that make the tool print its version and exit (with 0, or `versionStatus`). */
  versionArgs: string[];
  versionStatus?: number;
  /** What a person runs to get it (shown in the skip reason and the summary). */
  install: string;
}

export const PROMTOOL: ExternalTool = {
  name: 'promtool',
  versionArgs: ['--version'],
  install: 'apt-get install -y prometheus (Debian/Ubuntu; .ci/run does this), or take promtool from the release tarball at https://prometheus.io/download/',
};

export const HADOLINT: ExternalTool = {
  name: 'hadolint',
  versionArgs: ['--version'],
  install:
    'no Debian or npm package: curl -fsSL -o /usr/local/bin/hadolint https://github.com/hadolint/hadolint/releases/download/v2.12.0/hadolint-Linux-x86_64 && chmod +x /usr/local/bin/hadolint',
};

export const WRK: ExternalTool = {
  name: 'wrk',
  versionArgs: ['-v'],
  // wrk -v prints its version and the usage, and exits 1.
  versionStatus: 1,
  install: 'apt-get install -y wrk (Debian/Ubuntu; .ci/run does this)',
};

/**
 * `false` when the tool is on PATH; otherwise the skip reason (with the
 * install command), after recording the tool for the runner's summary.
 * Use as `test(name, { skip: missingTool(PROMTOOL) }, …)`.
 */
export function missingTool(tool: ExternalTool): false | string {
  if (spawnSync(tool.name, tool.versionArgs, { stdio: 'ignore' }).status === (tool.versionStatus ?? 0)) return false;
  const reason = `${tool.name} is not installed: ${tool.install}`;
  const file = process.env.PALISADE_MISSING_TOOLS;
  if (file) appendFileSync(file, `${JSON.stringify({ name: tool.name, install: tool.install })}\n`);
  else process.stderr.write(`\n!!! ${reason}\n`);
  return reason;
}
