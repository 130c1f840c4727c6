import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ALERT_THRESHOLDS, SCRAPE_ALERTS } from './alert-thresholds.ts';

interface Rule {
  alert: string;
  expr: string;
}

const rules = new Map<string, Rule>();
const doc = parse(readFileSync(new URL('../../ops/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: Rule[] }[] };
for (const g of doc.groups) for (const r of g.rules) rules.set(r.alert, r);

/** The number an expr compares against at its end: `… > 300`, `… < 14 * 86400`. */
function threshold(expr: string): number {
  const m = /(?:[<>]=?|==)\s*([\d.]+(?:\s*\*\s*[\d.]+)*)\s*$/.exec(expr.trim());
  assert.ok(m?.[1], `no trailing comparison in: ${expr}`);
  return m[1].split('*').reduce((p, f) => p * Number(f.trim()), 1);
}

test('every threshold doctor judges by is the one its alert rule fires at', () => {
  for (const [alert, value] of Object.entries(ALERT_THRESHOLDS)) {
    const rule = rules.get(alert);
    assert.ok(rule, `${alert} is not in alerts.yml`);
    assert.equal(threshold(rule.expr), value, `${alert}: alerts.yml says ${rule.expr}`);
  }
});

test('the rules doctor reads from one scrape fire on the same metric above 0', () => {
  for (const { alert, metric } of SCRAPE_ALERTS) {
    const rule = rules.get(alert);
    assert.ok(rule, `${alert} is not in alerts.yml`);
    assert.match(rule.expr, new RegExp(`\\b${metric}\\b`), `${alert} reads ${metric}`);
    assert.equal(threshold(rule.expr), 0, `${alert}: alerts.yml says ${rule.expr}`);
  }
});

test('the expression reader finds the number a rule compares against', () => {
  assert.equal(threshold('palisade_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400'), 1_209_600);
  assert.equal(threshold('palisade_spool_bytes / palisade_spool_max_bytes > 0.8'), 0.8);
  assert.throws(() => threshold('palisade_backup_last_failure_timestamp_seconds > palisade_backup_last_success_timestamp_seconds'));
});
