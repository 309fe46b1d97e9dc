/** promtool on deploy/: the rules file parses and passes its unit tests
 * (deploy/prometheus/tests/*.test.yml), the compose stack's Prometheus configuration loads it,
 * and every query of the Grafana dashboard is PromQL that Prometheus parses. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { drillConfig, withForDurations } from '../../src/stack/prometheus';
import {
  ALERTS_FILE,
  PROMETHEUS_CONFIG,
  dashboardQueries,
  ruleTestFiles,
  withGrafanaVariables,
} from '../support/observability-assets';

const exec = promisify(execFile);

function promtool(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = process.env.IDEM_PROMTOOL;
  if (!bin) throw new Error('IDEM_PROMTOOL is not set: run through jest --selectProjects alerts');
  return exec(bin, args, { encoding: 'utf8' }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    // promtool explains a failure on stdout (which test, expected and got alerts).
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
}

test('promtool check rules: deploy/prometheus/alerts.yml', async () => {
  const { stdout } = await promtool('check', 'rules', ALERTS_FILE);
  expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
});

test('promtool test rules: every case in deploy/prometheus/tests passes', async () => {
  const files = ruleTestFiles();
  expect(files.length).toBeGreaterThan(0);
  const { stdout } = await promtool('test', 'rules', ...files);
  expect(stdout.match(/SUCCESS/g)).toHaveLength(files.length);
});

test("promtool check config: the compose stack's Prometheus configuration and the rules it loads", async () => {
  const { stdout } = await promtool('check', 'config', PROMETHEUS_CONFIG);
  expect(stdout).toContain('alerts.yml');
  expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
});

test("every query of the Grafana dashboard parses as PromQL (as recording rules, Grafana's variables filled in)", async () => {
  const queries = dashboardQueries();
  const rules = queries.map((q, i) => ({
    record: `idem:dashboard_query_${i}`,
    expr: withGrafanaVariables(q.expr),
  }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-dashboard-'));
  try {
    const file = path.join(dir, 'dashboard-queries.yml');
    fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { stdout } = await promtool('check', 'rules', file);
    expect(stdout).toContain(`SUCCESS: ${queries.length} rules found`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the alert drill's Prometheus configuration loads the rules with only their `for:` durations shortened", async () => {
  const original = fs.readFileSync(ALERTS_FILE, 'utf8');
  const shortened = withForDurations(original, '2s');
  const [before, after] = [original.split('\n'), shortened.split('\n')];
  expect(after).toHaveLength(before.length);
  const changed = after.filter((line, i) => line !== before[i]);
  expect(changed.length).toBeGreaterThan(0);
  expect(changed.every((line) => /^\s+for: 2s$/.test(line))).toBe(true);
  expect(before.filter((line) => /^\s+for: /.test(line))).toHaveLength(changed.length);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-drill-config-'));
  try {
    const rulesFile = path.join(dir, 'alerts.yml');
    fs.writeFileSync(rulesFile, shortened);
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(config, drillConfig({ rulesFile, targets: ['127.0.0.1:9464'], interval: '1s' }));
    const { stdout } = await promtool('check', 'config', config);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
