/** The alert rules, their promtool tests, the Grafana dashboard and the compose wiring, checked
 * against idem's metrics (read from src/observability/metrics.ts) and the runbook. promtool's
 * own checks are in test/alerts/. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  PROMETHEUS_CONFIG,
  ROOT,
  alertRules,
  dashboardFiles,
  dashboardQueries,
  exposedSeries,
  metricNames,
  ruleTests,
} from '../support/observability-assets';

const alerts = alertRules();

test('metricNames finds the series an expression selects, not its functions, labels or keywords', () => {
  expect(
    metricNames(
      'sum by (reason, stage) (increase(idem_dead_lettered_total{stage!="x"}[5m])) > 0 or ' +
        'sum by (reason) (idem_dead_lettered_total unless idem_dead_lettered_total offset 5m) > 0.5e3',
    ),
  ).toEqual(['idem_dead_lettered_total']);
  expect(
    metricNames(
      'histogram_quantile(0.99, sum by (le) (rate(idem_event_latency_seconds_bucket[$__rate_interval])))',
    ),
  ).toEqual(['idem_event_latency_seconds_bucket']);
  expect(metricNames('absent(up{job=~"idem.*"}) and on (job) ALERTS')).toEqual(['up', 'ALERTS']);
  expect(metricNames('a / ignoring (x) group_left (y) b')).toEqual(['a', 'b']);
});

test('every alert rule and dashboard query uses only series idem exposes (or up, ALERTS)', async () => {
  const known = await exposedSeries();
  const uses = [
    ...alerts.map((a) => ({ where: `alert ${a.alert}`, expr: a.expr })),
    ...dashboardQueries().map((q) => ({ where: `${q.dashboard}: ${q.panel}`, expr: q.expr })),
  ];
  expect(uses.length).toBeGreaterThan(20);
  const unknown = uses.flatMap((u) =>
    metricNames(u.expr)
      .filter((n) => !known.has(n))
      .map((n) => `${u.where}: ${n}`),
  );
  expect(unknown).toEqual([]);
});

test('the alerts and the dashboard cover what operators watch', () => {
  const inAlerts = new Set(alerts.flatMap((a) => metricNames(a.expr)));
  for (const name of [
    'idem_consumer_lag',
    'idem_oldest_unprocessed_age_seconds',
    'idem_stuck_events',
    'idem_dead_lettered_total',
    'idem_events_received_total',
    'idem_event_latency_seconds_bucket',
    'idem_outbox_failed_total',
    'idem_outbox_backlog',
    'idem_workflow_start_errors_total',
    'up',
  ])
    expect([name, inAlerts.has(name)]).toEqual([name, true]);

  const inDashboard = new Set(dashboardQueries().flatMap((q) => metricNames(q.expr)));
  for (const name of [
    'idem_events_received_total',
    'idem_events_applied_total',
    'idem_duplicates_total',
    'idem_dead_lettered_total',
    'idem_consumer_lag',
    'idem_oldest_unprocessed_age_seconds',
    'idem_stuck_events',
    'idem_event_latency_seconds_bucket',
    'idem_workflow_start_seconds_bucket',
    'idem_event_stage_seconds_bucket',
    'idem_ingest_in_flight',
    'idem_outbox_backlog',
    'idem_outbox_failed_total',
    'idem_parked_keys',
  ])
    expect([name, inDashboard.has(name)]).toEqual([name, true]);
});

test('every alert has a for, a severity, a summary, and a description that points at its runbook entry', () => {
  const runbook = fs.readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
  const alertsSection = runbook.split(/^## Alerts$/m)[1]?.split(/^## /m)[0] ?? '';
  const headings = new Set([...alertsSection.matchAll(/^### (\w+)$/gm)].map((m) => m[1]));
  expect(alerts.length).toBeGreaterThanOrEqual(10);
  expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  for (const a of alerts) {
    const anchor = `docs/operations.md#${a.alert.toLowerCase()}`;
    expect({ alert: a.alert, for: /^\d+[smh]$/.test(a.for ?? '') }).toEqual({ alert: a.alert, for: true });
    expect({ alert: a.alert, severity: ['warning', 'critical'].includes(a.labels?.severity ?? '') }).toEqual({
      alert: a.alert,
      severity: true,
    });
    expect(a.annotations?.summary).toBeTruthy();
    expect(a.annotations?.runbook_url).toBe(anchor);
    expect(a.annotations?.description).toContain(anchor);
    expect({ alert: a.alert, inRunbook: headings.has(a.alert) }).toEqual({ alert: a.alert, inRunbook: true });
  }
});

test('every alert has promtool tests where it fires and where it does not', () => {
  const checks = ruleTests().flatMap((t) => t.alert_rule_test ?? []);
  for (const a of alerts) {
    const mine = checks.filter((c) => c.alertname === a.alert);
    expect({
      alert: a.alert,
      fires: mine.some((c) => (c.exp_alerts ?? []).length > 0),
      staysQuiet: mine.some((c) => (c.exp_alerts ?? []).length === 0),
    }).toEqual({ alert: a.alert, fires: true, staysQuiet: true });
  }
  const names = new Set(alerts.map((a) => a.alert));
  expect(checks.filter((c) => !names.has(c.alertname))).toEqual([]);
});

test('the dashboard is valid Grafana JSON: unique panel ids, panels within the grid, the provisioned datasource', () => {
  for (const file of dashboardFiles()) {
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      uid: string;
      panels: {
        id: number;
        type: string;
        gridPos: { x: number; w: number; h: number };
        datasource?: unknown;
      }[];
    };
    expect(d.uid).toMatch(/^[\w-]{1,40}$/);
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type !== 'row') expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  }
  const datasource = parse(
    fs.readFileSync(
      path.join(ROOT, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'utf8',
    ),
  ) as { datasources: { uid: string }[] };
  const idem = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'deploy', 'grafana', 'dashboards', 'idem.json'), 'utf8'),
  ) as {
    templating: { list: { name: string; current?: { value?: unknown } }[] };
  };
  const variable = idem.templating.list.find((v) => v.name === 'datasource');
  expect(variable?.current?.value).toBe(datasource.datasources[0]?.uid);
});

test('docker-compose.yml runs Prometheus with the alert rules and Grafana with the dashboard', () => {
  const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { volumes?: string[] }>;
  };
  const prometheus = parse(fs.readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string }[];
  };
  expect(compose.services.prometheus?.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
  expect(prometheus.rule_files).toEqual(['alerts.yml']);
  expect(prometheus.scrape_configs.map((s) => s.job_name)).toContain('idem');
  const grafanaMounts = (compose.services.grafana?.volumes ?? []).filter((v) => v.startsWith('./'));
  expect(grafanaMounts.map((v) => v.split(':')[1])).toEqual(
    expect.arrayContaining([
      '/etc/grafana/provisioning/datasources',
      '/etc/grafana/provisioning/dashboards',
      '/etc/grafana/dashboards',
    ]),
  );
  for (const v of grafanaMounts) expect(fs.existsSync(path.join(ROOT, v.split(':')[0] as string))).toBe(true);
  const provider = parse(
    fs.readFileSync(path.join(ROOT, 'deploy', 'grafana', 'provisioning', 'dashboards', 'idem.yml'), 'utf8'),
  ) as { providers: { options: { path: string } }[] };
  expect(provider.providers[0]?.options.path).toBe('/etc/grafana/dashboards');
});
