/**
 * The deployment files, checked without a Docker engine (none runs here):
 * the Dockerfile is linted (dockerfile-utils, the Docker language server's
 * validator; hadolint too: it has no Debian or npm package, so without it that
 * test is skipped with the install command and named in the runner's summary)
 * and held to the deployment rules; every path it COPYs from the build context
 * exists and survives .dockerignore; docker-compose.yml agrees with the image,
 * the configuration schema and the files it mounts. test/image.int.test.ts
 * then does what the image does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../src/config/index.ts';
import { HADOLINT, missingTool } from './helpers/external-tools.ts';
import { contextFiles, copiesOf, dockerignore, readDockerfile, runsOf, type Stage } from './helpers/dockerfile.ts';
import { ROOT, SERVER_NODE_FLAGS } from './helpers/palisade.ts';

const df = readDockerfile();
const final = df.stages.at(-1) as Stage;
// Variables the image sets for Node itself, not for Palisade.
const NODE_VARIABLES = new Set(['NODE_ENV']);

describe('Dockerfile', () => {
  test('dockerfile-utils reports nothing, with every optional check turned on', () => {
    const all = ValidationSeverity.ERROR;
    const problems = validate(df.text, {
      deprecatedMaintainer: all,
      directiveCasing: all,
      emptyContinuationLine: all,
      instructionCasing: all,
      instructionCmdMultiple: all,
      instructionEntrypointMultiple: all,
      instructionHealthcheckMultiple: all,
      instructionJSONInSingleQuotes: all,
      instructionWorkdirRelative: all,
    });
    assert.deepEqual(problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`), []);
  });

  test('hadolint Dockerfile passes', { skip: missingTool(HADOLINT) }, () => {
    const r = spawnSync('hadolint', ['Dockerfile'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("npm start and npm run start:dist pass the server's Node flags too", () => {
    const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(scripts.start, `node ${SERVER_NODE_FLAGS.join(' ')} bin/palisade.js serve`);
    assert.equal(scripts['start:dist'], `node ${SERVER_NODE_FLAGS.join(' ')} dist/src/cli/entry.cjs serve`);
  });

  test('the runtime stage: not root, tini as PID 1, the built entry point, a HEALTHCHECK on /healthz', () => {
    assert.ok(final.user && !/^(root|0)(:|$)/.test(final.user), `the last USER is ${final.user ?? 'unset (root)'}`);
    assert.deepEqual(df.entrypoint?.slice(0, 3), ['/usr/bin/tini', '--', 'node'], 'ENTRYPOINT in exec form, tini first');
    assert.deepEqual(df.entrypoint?.slice(3, -1), SERVER_NODE_FLAGS, "Node's flags as npm start and the tests pass them");
    const entry = df.entrypoint?.at(-1) ?? '';
    assert.match(entry, /^dist\/.+\.c?js$/, 'the entry point is the build, not TypeScript through tsx');
    assert.ok(df.cmd?.length, 'CMD in exec form');
    assert.ok(df.healthcheck, 'HEALTHCHECK CMD in exec form');
    assert.match(df.healthcheck.join(' '), /\/healthz/);
    // Production dependencies only, no embedded engine.
    const installs = df.stages.flatMap((s) => runsOf(s).map((r) => ({ stage: s.name, command: r.command }))).filter((r) => /\bnpm ci\b/.test(r.command));
    const runtimeSource = copiesOf(final).find((c) => c.dest.replace(/\/$/, '').endsWith('node_modules'))?.from;
    const prod = installs.find((r) => r.stage === runtimeSource);
    assert.ok(prod, `the runtime's node_modules come from a stage that runs npm ci (from ${runtimeSource})`);
    assert.match(prod.command, /--omit=dev/);
    assert.match(prod.command, /--omit=optional/);
  });

  test('hadolint-style rules: apt installs are lean and cleaned up, base images are tagged, no ADD', () => {
    for (const stage of df.stages) {
      assert.match(stage.image, /:[^:]+$/, `stage ${stage.name}: image ${stage.image} has a tag`);
      assert.doesNotMatch(stage.image, /:latest$/);
      for (const { command, line } of runsOf(stage)) {
        if (!/apt-get install/.test(command)) continue;
        assert.match(command, /apt-get install -y --no-install-recommends /, `line ${line}: DL3015`);
        assert.match(command, /rm -rf \/var\/lib\/apt\/lists\/\*/, `line ${line}: DL3009`);
        assert.match(command, /apt-get update/, `line ${line}: update in the same layer`);
      }
    }
    assert.doesNotMatch(df.text, /^ADD\s/m, 'COPY, not ADD (DL3020)');
  });

  test('every path COPY takes from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = dockerignore();
    let checked = 0;
    for (const stage of df.stages) {
      for (const copy of copiesOf(stage)) {
        if (copy.from) {
          assert.ok(df.stages.some((s) => s.name === copy.from), `line ${copy.line}: --from=${copy.from} names a stage`);
          continue;
        }
        for (const source of copy.sources) {
          assert.doesNotMatch(source, /[*?[]/, `line ${copy.line}: ${source}: a glob; name the path`);
          assert.ok(existsSync(path.join(ROOT, source)), `line ${copy.line}: ${source} does not exist`);
          assert.ok(!ignored(source), `line ${copy.line}: ${source} is excluded by .dockerignore`);
          if (statSync(path.join(ROOT, source)).isDirectory()) assert.ok(contextFiles(source, ignored).length > 0, `${source} is empty in the context`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 3, `${checked} context paths`);
  });

  test('every ENV it sets for Palisade is a configuration variable with a valid value', () => {
    const unknown = Object.keys(final.env).filter((k) => !NODE_VARIABLES.has(k) && !CONFIG_VARIABLES.includes(k));
    assert.deepEqual(unknown, []);
    const config = loadConfig({ ...final.env, CLICKHOUSE_URL: 'http://clickhouse:8123' });
    assert.equal(config.dataDir, '/data');
  });
});

// ---- docker-compose.yml -------------------------------------------------------

interface Service {
  build?: unknown;
  image?: string;
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: string[];
  read_only?: boolean;
  init?: boolean;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const edges = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
const envOf = (s: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
/** What a container of the image sees: the Dockerfile's ENV, then the service's environment. */
const containerEnv = (s: Service): Record<string, string> => ({ ...final.env, ...envOf(s) });

describe('docker-compose.yml', () => {
  test('two edges built from this Dockerfile, read-only root, no second init beside tini', () => {
    assert.equal(edges.length, 2);
    for (const [name, s] of edges) {
      assert.equal(s.read_only, true, `${name}: read_only`);
      assert.notEqual(s.init, true, `${name}: the image runs tini; init: true would add a second init`);
    }
  });

  test('every variable an edge sets is a configuration variable and the whole set loads', () => {
    for (const [name, s] of edges) {
      const unknown = Object.keys(envOf(s)).filter((k) => !CONFIG_VARIABLES.includes(k));
      assert.deepEqual(unknown, [], `${name}: unknown variables`);
      assert.doesNotThrow(() => loadConfig(containerEnv(s)), `${name}: its environment is a valid configuration`);
    }
  });

  test('edges: distinct node ids, each its own data volume on the data directory', () => {
    const ids = edges.map(([, s]) => loadConfig(containerEnv(s)).governance.nodeId);
    assert.equal(new Set(ids).size, edges.length, `node ids ${ids.join(', ')}`);
    const volumes: string[] = [];
    for (const [name, s] of edges) {
      const dataDir = loadConfig(containerEnv(s)).dataDir;
      const mount = (s.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === dataDir);
      assert.ok(mount, `${name}: a volume on ${dataDir}`);
      const source = mount[0] as string;
      assert.ok(compose.volumes && source in compose.volumes, `${name}: ${source} is a named volume`);
      volumes.push(source);
    }
    assert.equal(new Set(volumes).size, edges.length, 'one spool volume per edge, never shared');
  });

  test('edges reach the ClickHouse service with its own credentials', () => {
    for (const [name, s] of edges) {
      const config = loadConfig(containerEnv(s));
      assert.equal(config.clickhouse.kind, 'server', `${name}: CLICKHOUSE_URL set`);
      if (config.clickhouse.kind !== 'server') continue;
      const url = new URL(config.clickhouse.url);
      const ch = compose.services[url.hostname];
      assert.ok(ch, `${name}: ${url.hostname} is a service`);
      const chEnv = envOf(ch);
      assert.equal(config.clickhouse.user, chEnv.CLICKHOUSE_USER ?? 'default');
      assert.equal(config.clickhouse.password, chEnv.CLICKHOUSE_PASSWORD ?? '');
      assert.equal(url.port, '8123', "ClickHouse's HTTP port");
    }
  });

  test('every host path a service mounts exists', () => {
    let mounts = 0;
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] as string;
        if (!source.startsWith('.') && !source.startsWith('/')) continue; // a named volume
        mounts++;
        assert.ok(existsSync(path.resolve(ROOT, source)), `${name}: ${source} does not exist`);
      }
    }
    assert.ok(mounts > 0);
  });

  test('every environment variable a mounted ClickHouse config file reads (from_env) is set on its service', () => {
    let checked = 0;
    for (const [name, s] of Object.entries(compose.services)) {
      const env = envOf(s);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] as string;
        if (!source.endsWith('.xml')) continue;
        const xml = readFileSync(path.resolve(ROOT, source), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
        for (const m of xml.matchAll(/from_env="([^"]+)"/g)) {
          checked++;
          assert.ok(env[m[1] as string], `${name}: ${source} reads ${m[1]}, which the service does not set`);
        }
      }
    }
    assert.ok(checked > 0);
  });

  test("Prometheus scrapes every edge's admin /metrics over HTTPS and loads the alert rules", () => {
    const prom = Object.values(compose.services).find((s) => s.image?.startsWith('prom/prometheus'));
    assert.ok(prom, 'a Prometheus service');
    const mount = (prom.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === '/etc/prometheus');
    assert.ok(mount, 'ops/prometheus mounted on /etc/prometheus');
    const dir = path.resolve(ROOT, mount[0] as string);
    const config = parse(readFileSync(path.join(dir, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { scheme?: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    for (const f of config.rule_files) assert.ok(existsSync(path.join(dir, f)), `rule file ${f}`);
    assert.ok(config.rule_files.includes('alerts.yml'));
    const targets = config.scrape_configs.filter((c) => c.scheme === 'https' && (c.metrics_path ?? '/metrics') === '/metrics').flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    for (const [name, s] of edges) {
      const adminPort = loadConfig(containerEnv(s)).adminPort;
      assert.ok(targets.includes(`${name}:${adminPort}`), `${name}:${adminPort} is scraped (targets: ${targets.join(', ')})`);
    }
  });
});
