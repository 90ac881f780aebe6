// The alert rules are valid, each fires on what it should and only then (promtool's unit tests in
// deploy/prometheus/rules.test.yml), and each has its runbook entry. promtool is needed: without
// it these fail (Debian's prometheus package has it; .ci/run installs it).
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { RULE_TESTS_FILE, RULES_FILE, alertRules, metricNames, promtool } from '../support/promql';

const RUNBOOK = path.join(__dirname, '..', '..', 'docs', 'runbook.md');

test('promtool finds the rules valid', () => {
  const { status, output } = promtool(['check', 'rules', RULES_FILE]);
  expect({ status, output }).toMatchObject({ status: 0, output: expect.stringContaining('SUCCESS') });
});

test("the rules pass promtool's unit tests", () => {
  const { status, output } = promtool(['test', 'rules', RULE_TESTS_FILE]);
  expect({ status, output }).toMatchObject({ status: 0, output: expect.stringContaining('SUCCESS') });
});

test('every alert has a unit test in which it fires and one in which it stays quiet', () => {
  const cases = (parse(fs.readFileSync(RULE_TESTS_FILE, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> }).tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const { alert } of alertRules()) {
    const own = cases.filter((c) => c.alertname === alert);
    expect({ alert, fires: own.some((c) => (c.exp_alerts ?? []).length > 0), quiet: own.some((c) => (c.exp_alerts ?? []).length === 0) }).toEqual({ alert, fires: true, quiet: true });
  }
});

test('every alert has its runbook entry, and its runbook annotation points at it', () => {
  const runbook = fs.readFileSync(RUNBOOK, 'utf8');
  const doc = parse(fs.readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: Record<string, string> }> }> };
  for (const rule of doc.groups.flatMap((g) => g.rules)) {
    expect(runbook).toMatch(new RegExp(`^## ${rule.alert}$`, 'm'));
    expect(rule.annotations.runbook).toBe(`docs/runbook.md#${rule.alert.toLowerCase()}`);
  }
});

test('the metric names read out of PromQL are the series, not its functions, keywords, labels, strings, durations or variables', () => {
  expect(metricNames('sum by (le, job) (rate(x_bucket{job="$job", le=~"0.5|1"}[$__rate_interval])) > on (kind) group_left () y offset 5m and bool z')).toEqual(['x_bucket', 'y', 'z']);
  expect(metricNames('absent(up{job="card-approval-worker"} == 1) and on () count(a) > 1e3')).toEqual(['up', 'a']);
  expect(metricNames('max_over_time(b[10m:1m]) unless ignoring (instance) c')).toEqual(['b', 'c']);
});
