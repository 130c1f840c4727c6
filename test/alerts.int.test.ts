/**
 * The alert rules against the server they watch: every alert has a runbook
 * that exists and says the four things on-call needs, every metric an expr
 * names is exposed by a real server's /metrics, and the rules pass `promtool
 * check rules` and the unit tests in alerts.test.yml. promtool has no npm
 * package (Debian's `prometheus` has it; .ci/run installs it): without it
 * that test is skipped with the install command and the runner's summary
 * names it (helpers/external-tools.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { missingTool, PROMTOOL } from './helpers/external-tools.ts';
import { ROOT, removeDir, startPalisade } from './helpers/palisade.ts';

const RULES = path.join(ROOT, 'ops', 'prometheus', 'alerts.yml');
const RULE_TESTS = path.join(ROOT, 'ops', 'prometheus', 'alerts.test.yml');

interface Rule {
  alert: string;
  expr: string;
  runbook?: string;
}

/** alerts.yml is written in one plain style (single-line exprs); this reads just that. */
function readRules(): Rule[] {
  const rules: Rule[] = [];
  for (const line of readFileSync(RULES, 'utf8').split('\n')) {
    const alert = /^\s+- alert: (\S+)\s*$/.exec(line);
    if (alert?.[1]) rules.push({ alert: alert[1], expr: '' });
    const current = rules.at(-1);
    const expr = /^\s+expr: (.+)$/.exec(line);
    if (expr?.[1] && current) current.expr = expr[1];
    const rb = /^\s+runbook_url: (\S+)\s*$/.exec(line);
    if (rb?.[1] && current) current.runbook = rb[1];
  }
  return rules;
}

/** Metric names an expr reads: identifiers outside label matchers, ranges and `by (…)`, not function calls. */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '').replace(/\bby \([^)]*\)/g, '');
  const words = [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1] ?? '');
  return words.filter((w) => !/^(and|or|unless|by|without|on|ignoring|group_left|group_right|bool|offset)$/.test(w));
}

test('every alert has a runbook that exists and covers meaning, confirmation, mitigation and recovery', () => {
  const rules = readRules();
  assert.ok(rules.length >= 15, `found ${rules.length} alerts`);
  assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique');
  for (const r of rules) {
    assert.ok(r.expr, `${r.alert} has an expr`);
    assert.equal(r.runbook, `ops/runbooks/${r.alert}.md`, `${r.alert} links its own runbook`);
    const file = path.join(ROOT, r.runbook);
    assert.ok(existsSync(file), `${file} exists`);
    const text = readFileSync(file, 'utf8');
    for (const h of ['## What it means', '## How to confirm', '## How to mitigate', '## How to verify recovery']) assert.ok(text.includes(h), `${r.alert}: ${h}`);
    assert.match(text, /palisade doctor/, `${r.alert}: tells on-call to run doctor`);
  }
  // The runbooks `palisade doctor` points at exist too.
  const doctor = readFileSync(path.join(ROOT, 'src', 'cli', 'doctor.ts'), 'utf8');
  for (const m of doctor.matchAll(/(?:runbook\('|\[')(Palisade\w+)'/g)) assert.ok(existsSync(path.join(ROOT, 'ops', 'runbooks', `${m[1]}.md`)), `doctor's runbook ${m[1]}`);
  assert.ok(existsSync(path.join(ROOT, 'ops', 'postmortem-template.md')));
});

test('every metric the rules read is exposed by a running server', async () => {
  const p = await startPalisade();
  try {
    const r = await p.api('GET', '/healthz');
    assert.equal(r.status, 200);
    const res = await fetchMetrics(p.adminPort, p.dataDir);
    const exposed = new Set([...res.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    assert.ok(exposed.has('palisade_tls_certificate_expiry_timestamp_seconds'));
    const expiry = Number(/^palisade_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(res)?.[1]);
    assert.ok(expiry * 1000 > Date.now() + 300 * 86_400_000, 'the self-signed certificate is good for about a year');
    assert.match(res, /^palisade_clickhouse_up 1$/m);
    assert.match(res, /^palisade_data_dir_free_bytes \d+/m);
    // Prometheus's own series, not the edge's.
    const external = new Set(['up']);
    for (const rule of readRules()) {
      for (const name of metricNames(rule.expr)) {
        assert.ok(exposed.has(name) || external.has(name), `${rule.alert} reads ${name}, which the server does not expose`);
      }
    }
  } finally {
    await p.kill();
    await removeDir(p.dataDir);
  }
});

async function fetchMetrics(port: number, dataDir: string): Promise<string> {
  const { Agent, request } = await import('undici');
  const ca = readFileSync(path.join(dataDir, 'tls', 'self-signed.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(`https://localhost:${port}/metrics`, { dispatcher });
    assert.equal(res.statusCode, 200);
    return await res.body.text();
  } finally {
    await dispatcher.close();
  }
}

test('promtool check rules and the rule unit tests pass', { skip: missingTool(PROMTOOL) }, () => {
  const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const unit = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  // Every alert has at least one unit test.
  const tested = readFileSync(RULE_TESTS, 'utf8');
  for (const r of readRules()) assert.match(tested, new RegExp(`alertname: ${r.alert}\\b`), `${r.alert} has a promtool test`);
});
