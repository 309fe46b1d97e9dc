/** What the alert rules, their promtool tests and the Grafana dashboard (deploy/) are made of,
 * read for the tests that check them against idem's metrics and against promtool. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observability/metrics';

export const ROOT = path.join(__dirname, '..', '..');
export const ALERTS_FILE = path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
export const RULE_TESTS_DIR = path.join(ROOT, 'deploy', 'prometheus', 'tests');
export const PROMETHEUS_CONFIG = path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
export const DASHBOARDS_DIR = path.join(ROOT, 'deploy', 'grafana', 'dashboards');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parse(fs.readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export function ruleTestFiles(): string[] {
  return fs
    .readdirSync(RULE_TESTS_DIR)
    .filter((f) => f.endsWith('.test.yml'))
    .map((f) => path.join(RULE_TESTS_DIR, f));
}

export interface RuleTestCase {
  name: string;
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
}

export function ruleTests(): RuleTestCase[] {
  return ruleTestFiles().flatMap(
    (f) => (parse(fs.readFileSync(f, 'utf8')) as { tests: RuleTestCase[] }).tests,
  );
}

export interface DashboardQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

export function dashboardFiles(): string[] {
  return fs
    .readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(DASHBOARDS_DIR, f));
}

/** Every PromQL query of every dashboard: the panels' and the template variables'. */
export function dashboardQueries(): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const file of dashboardFiles()) {
    const dashboard = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      panels: Panel[];
      templating?: { list: { name: string; type: string; definition?: string }[] };
    };
    const name = path.basename(file);
    const walk = (panels: Panel[]) => {
      for (const p of panels) {
        for (const t of p.targets ?? [])
          out.push({ dashboard: name, panel: p.title ?? '(untitled)', expr: t.expr ?? '' });
        walk(p.panels ?? []);
      }
    };
    walk(dashboard.panels);
    for (const v of dashboard.templating?.list ?? []) {
      // label_values(<selector>, <label>): the selector is PromQL too.
      const m = v.type === 'query' ? /^label_values\((.*),\s*\w+\)$/.exec(v.definition ?? '') : null;
      if (m?.[1]) out.push({ dashboard: name, panel: `variable ${v.name}`, expr: m[1] });
    }
  }
  return out;
}

/** Grafana's variables replaced by values Prometheus accepts, so promtool can parse the query. */
export function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.*');
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Good enough for idem's own expressions:
 * strings, label matchers, ranges and grouping clauses are removed first; what remains that
 * is an identifier, not a function call and not a keyword, is a metric name.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    const word = m[1] as string;
    if (!KEYWORDS.has(word.toLowerCase())) names.add(word);
  }
  return [...names];
}

/** Series names from other sources than idem's registry that the rules and dashboards may use. */
export const PROMETHEUS_SERIES = ['up', 'ALERTS'];

/** The series idem's processes expose, from the metrics module itself (a histogram's as its
 * _bucket, _sum and _count series), so a renamed metric fails the tests that use this. */
export async function exposedSeries(): Promise<Set<string>> {
  const metrics = createMetrics({ defaults: true });
  const names = new Set<string>(PROMETHEUS_SERIES);
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    // prom-client's typings call the type an enum; at run time it is the exposition's word.
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(`${m.name}${s}`);
    else names.add(m.name);
  }
  return names;
}
