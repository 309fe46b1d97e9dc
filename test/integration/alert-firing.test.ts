/**
 * idem's alert rules on a real Prometheus, against the real metrics of a real stuck event: on the
 * local stack, an event whose handler blocks stays running; the worker's scanner counts it
 * (idem_stuck_events); a Prometheus of the test's own (Debian's binary, fetched once into the
 * cache with promtool) scrapes that idem's /metrics and evaluates deploy/prometheus/alerts.yml
 * until IdemStuckEvents fires, with its labels and annotations; `idem stuck` and `idem status`
 * (the built CLI) report the same event. Released, the alert resolves.
 *
 * The rules are loaded with only their `for:` durations shortened (5 minutes for IdemStuckEvents
 * would make this a five-minute test): what `for` does is covered by the promtool unit tests
 * (deploy/prometheus/tests); this test proves that the expressions, and the annotations'
 * templates, fire on what idem really exports.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startIdem, type IdemProcess } from '../../src/app';
import { loadConfig, parseConfig } from '../../src/config';
import { workflowIdFor } from '../../src/events/identity';
import { silentLogger } from '../../src/observability/logger';
import { layoutFor } from '../../src/stack/layout';
import { stderrReporter } from '../../src/stack/progress';
import { ensurePrometheus } from '../../src/stack/promtool';
import {
  drillConfig,
  startPrometheus,
  withForDurations,
  type LocalPrometheus,
  type PrometheusAlert,
} from '../../src/stack/prometheus';
import { ALERTS_FILE } from '../support/observability-assets';
import { freePort } from '../support/own-servers';
import { ceRecord, createPipeline, ledgerRegistry, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');

/** The built CLI with the pipeline's environment, run beside the in-process idem. */
function idem(p: Pipeline, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: { ...process.env, ...p.env }, timeout: 120_000 },
      (err, stdout) => {
        const code = err ? ((err as { code?: number | string }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout });
      },
    );
  });
}

describe('IdemStuckEvents on a real Prometheus', () => {
  let p: Pipeline;
  let proc: IdemProcess | undefined;
  let prom: LocalPrometheus | undefined;
  let dir: string;
  let metricsPort: number;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-alert-drill-'));
    // Fetched by the alerts project's global setup in npm test; alone, this fetches it once.
    const binary = await ensurePrometheus(layoutFor(loadConfig().cacheDir), stderrReporter);
    p = await createPipeline('alert', {
      IDEM_STUCK_AFTER_MS: '2000',
      IDEM_STUCK_INTERVAL_MS: '300',
      // The handler blocks longer than an attempt may otherwise take.
      IDEM_ATTEMPT_TIMEOUT_MS: '300000',
    });
    metricsPort = await freePort();
    proc = await startIdem({
      config: parseConfig({ ...p.env, IDEM_METRICS_PORT: String(metricsPort) }),
      logger: silentLogger,
      roles: ['ingester', 'worker', 'relay'],
      registry: ledgerRegistry().register('test.blocking', () => gate),
    });
    const rulesFile = path.join(dir, 'alerts.yml');
    fs.writeFileSync(rulesFile, withForDurations(fs.readFileSync(ALERTS_FILE, 'utf8'), '2s'));
    prom = await startPrometheus({
      binary,
      dir,
      port: await freePort(),
      config: drillConfig({ rulesFile, targets: [`127.0.0.1:${metricsPort}`], interval: '1s' }),
    });
  }, 600_000);

  afterAll(async () => {
    release();
    await prom?.stop();
    await proc?.stop();
    await p?.close();
    // A failure's message carries the end of Prometheus's log.
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('fires with its labels and runbook link while idem stuck and idem status report the event, and resolves once it is released', async () => {
    if (!prom) throw new Error('prometheus did not start');
    const server = prom;
    const failed = (what: string) => `${what}; Prometheus's log is ${server.logFile}:\n${server.logTail()}`;

    // The target is scraped and every rule is quiet before anything is stuck. (Until the first
    // scrape there is no `up` series, and with `for` shortened IdemMetricsAbsent may fire for a
    // moment: it resolves at the next evaluation.)
    await eventually(
      async () =>
        (await server.targets()).get(`http://127.0.0.1:${metricsPort}/metrics`) === 'up' &&
        (await server.alerts()).length === 0,
      120_000,
      failed("Prometheus's scrape of idem's /metrics to succeed with no alert active"),
    );

    const id = `alert-${crypto.randomBytes(3).toString('hex')}`;
    const workflowId = workflowIdFor(p.source, id);
    await p.producer.send({
      topic: p.topic,
      messages: [ceRecord(p.source, { id, type: 'test.blocking', data: {} }, 'held-key')],
    });

    const firing = await eventually(
      async () =>
        (await server.alerts()).find((a) => a.labels.alertname === 'IdemStuckEvents' && a.state === 'firing'),
      180_000,
      failed('IdemStuckEvents to fire'),
    );
    expect(firing.labels).toEqual({ alertname: 'IdemStuckEvents', severity: 'warning' });
    expect(Number(firing.value)).toBe(1);
    expect(firing.annotations.summary).toBe('1 idem events stuck in Temporal');
    expect(firing.annotations.runbook_url).toBe('docs/operations.md#idemstuckevents');
    // The description's template ran its query for the oldest age (5.123s, 1m 5s).
    expect(firing.annotations.description).toMatch(
      /^1 event workflows have run past the stuck threshold; the oldest for (\d+[dhm] )*\d+(\.\d+)?s\. List them with `idem stuck`/,
    );
    expect(firing.annotations.description).toContain('docs/operations.md#idemstuckevents');
    // No other rule fires on these metrics (one process up, nothing dead-lettered or parked, and
    // nothing has waited the five minutes of IdemOldestUnprocessedEventTooOld).
    const others = (await server.alerts()).filter(
      (a: PrometheusAlert) => a.labels.alertname !== 'IdemStuckEvents',
    );
    expect(others).toEqual([]);

    // The operator's commands name the same event.
    const stuck = await idem(p, 'stuck', '--json');
    expect(stuck.code).toBe(1);
    const stuckJson = JSON.parse(stuck.stdout) as {
      count: number;
      events: { workflowId: string; key: string }[];
    };
    expect(stuckJson.count).toBe(1);
    expect(stuckJson.events[0]).toMatchObject({ workflowId, key: 'held-key' });
    const status = await idem(p, 'status', '--json');
    expect(status.code).toBe(1);
    const statusJson = JSON.parse(status.stdout) as {
      workflows: { running: number; stuck: { count: number; oldestAgeMs: number } };
    };
    expect(statusJson.workflows).toMatchObject({ running: 1, stuck: { count: 1 } });
    expect(statusJson.workflows.stuck.oldestAgeMs).toBeGreaterThanOrEqual(2000);

    // Released, the event completes, the scanner reports 0 and the alert leaves the active list.
    release();
    await eventually(
      async () => (await server.alerts()).every((a) => a.labels.alertname !== 'IdemStuckEvents'),
      180_000,
      failed('IdemStuckEvents to resolve'),
    );
    expect((await idem(p, 'stuck', '--json')).code).toBe(0);
  }, 600_000);
});
