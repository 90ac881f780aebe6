// What the deployment files ask of /metrics: the metric names in their PromQL expressions (the
// alert rules and the Grafana dashboard), and the promtool that checks them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.join(__dirname, '..', '..');
export const RULES_FILE = path.join(ROOT, 'deploy', 'prometheus', 'rules.yml');
export const RULE_TESTS_FILE = path.join(ROOT, 'deploy', 'prometheus', 'rules.test.yml');
export const DASHBOARD_FILE = path.join(ROOT, 'deploy', 'grafana', 'card-approvals.json');

/** PromQL's words that are not metric names: operators, modifiers and literals. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

/**
 * The metric names an expression reads: each identifier that is not a function or aggregation
 * (followed by a parenthesis), a keyword, a label (inside braces or a by/on list), a string, a
 * duration or a Grafana variable.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings (label values, regexes)
    .replace(/\$\{[^}]*\}|\$\w+/g, '0') // Grafana variables ($__rate_interval, ${job})
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?\d+[a-z]+/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|[A-Za-z_:][\w:]*/g)) {
    const word = m[0];
    if (/^\d/.test(word) || KEYWORDS.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(bare.slice(m.index + word.length))) continue; // a function or an aggregation
    names.add(word);
  }
  return [...names];
}

/** Every alert rule of rules.yml: its name and expression. */
export function alertRules(): Array<{ alert: string; expr: string }> {
  const doc = parse(fs.readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules).map((r) => ({ alert: r.alert ?? r.record ?? '', expr: String(r.expr) }));
}

/** Every PromQL expression of the dashboard: its panels' queries and its query variables. */
export function dashboardExpressions(): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string }>; panels?: unknown[] }>;
    templating?: { list: Array<{ name: string; type: string; query?: unknown }> };
  };
  const panels = dashboard.panels.flatMap((p) => [p, ...((p.panels ?? []) as typeof dashboard.panels)]);
  return [
    ...panels.flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: p.title, expr: t.expr! }))),
    ...(dashboard.templating?.list ?? [])
      .filter((v) => v.type === 'query')
      .map((v) => {
        const query = typeof v.query === 'string' ? v.query : String((v.query as { query?: string }).query ?? '');
        // Grafana's label_values(series, label): the series is PromQL, the label is not.
        return { panel: `variable ${v.name}`, expr: query.replace(/^label_values\((.*),\s*\w+\)$/, '$1') };
      }),
  ];
}

/** The metric names a /metrics text declares (its TYPE lines), with a histogram's or summary's series. */
export function servedNames(exposition: string): Set<string> {
  const served = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    served.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) served.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) served.add(`${name}${suffix}`);
  }
  return served;
}

/** Runs promtool; a promtool that is not installed fails the caller (install Debian's prometheus package). */
export function promtool(args: string[], input?: string): { status: number; output: string } {
  const run = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}): install it (apt-get install prometheus)`);
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}
