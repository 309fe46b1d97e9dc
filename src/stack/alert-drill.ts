/**
 * The alert drill (`node scripts/alert-drill.js`, docs/operations.md "Alerts"): on the local
 * stack, one event held stuck until IdemStuckEvents fires on a real Prometheus, with what an
 * operator sees meanwhile. It runs the built `idem consume` with a handler module of its own
 * whose one event type blocks until a file appears, sends one event, starts Prometheus
 * (./prometheus.ts) on that consumer's /metrics with deploy/prometheus/alerts.yml (only `for:`
 * shortened), waits for the alert to fire, prints `idem status`, `idem stuck` and
 * `/api/v1/alerts`, then releases the event, waits for the alert to resolve and stops what it
 * started. It leaves the topics orders-drill (.dlq, .outbox) and the database idem_drill, so the
 * consumer group's offsets stay consistent from one drill to the next.
 */
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline/promises';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../config';
import { freeLoopbackPort } from '../net';
import { PACKAGE_ROOT } from '../package-root';
import { ensureTopics } from './kafka';
import { layoutFor } from './layout';
import { ensureDatabase } from './postgres';
import { StackError } from './proc';
import type { Reporter } from './progress';
import { drillConfig, startPrometheus, withForDurations, type PrometheusAlert } from './prometheus';
import { ensurePrometheus } from './promtool';

const TOPIC = 'orders-drill';
const EVENT_TYPE = 'drill.blocking';

export interface AlertDrillOptions {
  /** The local stack's configuration (`loadConfig()`). */
  config: Config;
  /** Progress, on stderr. */
  report: Reporter;
  /** What the operator sees (the commands and their output), on stdout. */
  print: (text: string) => void;
  /** IDEM_STUCK_AFTER_MS of the consumer and the commands. */
  stuckAfterMs?: number;
  /** The `for:` of every rule, and Prometheus's scrape and evaluation interval. */
  forDuration?: string;
  interval?: string;
  /** Wait for Enter before releasing the event (to look at Prometheus and Temporal Web). */
  hold?: boolean;
}

/** A handler module whose one type blocks until `releaseFile` exists. */
function blockingHandlerModule(releaseFile: string): string {
  return `// Written by idem's alert drill: ${EVENT_TYPE} blocks until ${releaseFile} exists.
const fs = require('node:fs');
exports.register = (registry) =>
  registry.register(${JSON.stringify(EVENT_TYPE)}, () =>
    new Promise((resolve) => {
      const timer = setInterval(() => {
        if (fs.existsSync(${JSON.stringify(releaseFile)})) {
          clearInterval(timer);
          resolve();
        }
      }, 200);
    }),
  );
`;
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  alive: () => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new StackError(`a process of the drill exited while waiting for ${what}`);
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new StackError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function runAlertDrill(o: AlertDrillOptions): Promise<void> {
  const stuckAfterMs = o.stuckAfterMs ?? 20_000;
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-alert-drill-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const db = new URL(o.config.database.url);
    db.pathname = '/idem_drill';
    await ensureDatabase(db.toString());
    await ensureTopics(o.config.kafka.brokers, [
      { topic: TOPIC, numPartitions: 3 },
      { topic: `${TOPIC}.dlq`, numPartitions: 1 },
      { topic: `${TOPIC}.outbox`, numPartitions: 1 },
    ]);
    const metricsPort = await freeLoopbackPort();
    const env: Record<string, string> = {
      KAFKA_TOPICS: TOPIC,
      KAFKA_GROUP_ID: 'idem-drill',
      TEMPORAL_TASK_QUEUE: 'idem-drill',
      IDEM_OUTBOX_TOPIC: `${TOPIC}.outbox`,
      DATABASE_URL: db.toString(),
      IDEM_METRICS_PORT: String(metricsPort),
      IDEM_STUCK_AFTER_MS: String(stuckAfterMs),
      IDEM_STUCK_INTERVAL_MS: '2000',
      // The handler blocks for longer than an attempt may otherwise take.
      IDEM_ATTEMPT_TIMEOUT_MS: '3600000',
      IDEM_LOG_LEVEL: 'warn',
    };
    const childEnv = { ...process.env, ...env };
    o.print(
      `# the drill's settings, beside the stack's (idem stack env):\n` +
        Object.entries(env)
          .filter(([k]) => k !== 'IDEM_LOG_LEVEL')
          .map(([k, v]) => `export ${k}=${v}`)
          .join('\n'),
    );

    // The consumer, as an operator runs it.
    const releaseFile = path.join(dir, 'release');
    const handlers = path.join(dir, 'handlers.js');
    fs.writeFileSync(handlers, blockingHandlerModule(releaseFile));
    const bin = path.join(PACKAGE_ROOT, 'bin', 'idem.js');
    const consumeLog = path.join(dir, 'consume.log');
    const out = fs.openSync(consumeLog, 'a');
    const consume = spawn(process.execPath, [bin, 'consume', '--handlers', handlers], {
      env: childEnv,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const consumeExited = new Promise<void>((resolve) => consume.once('exit', () => resolve()));
    const consumeAlive = () => consume.exitCode === null && consume.signalCode === null;
    // Released first, so its event completes instead of waiting for the next drill's consumer.
    cleanups.push(async () => {
      fs.writeFileSync(releaseFile, '');
      if (!consumeAlive()) return;
      consume.kill('SIGTERM');
      const timer = setTimeout(() => consume.kill('SIGKILL'), 60_000);
      await consumeExited;
      clearTimeout(timer);
    });
    const consumeTail = () => fs.readFileSync(consumeLog, 'utf8').slice(-3000);
    o.report(`idem consume (pid ${consume.pid}) starting, /metrics on 127.0.0.1:${metricsPort}`);
    await waitFor(
      'idem consume to be ready',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/ready`)).ok,
      consumeAlive,
      180_000,
    ).catch((err: Error) => {
      throw new StackError(`${err.message}; its log:\n${consumeTail()}`);
    });

    // Prometheus on that consumer, with the real rules, only `for:` shortened: what `for` does is
    // covered by the promtool unit tests; the drill shows the expressions fire on real metrics.
    const binary = await ensurePrometheus(layoutFor(o.config.cacheDir), o.report);
    const rulesFile = path.join(dir, 'alerts.yml');
    const forDuration = o.forDuration ?? '10s';
    const rules = fs.readFileSync(path.join(PACKAGE_ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8');
    fs.writeFileSync(rulesFile, withForDurations(rules, forDuration));
    const prom = await startPrometheus({
      binary,
      dir: path.join(dir, 'prometheus'),
      port: await freeLoopbackPort(),
      config: drillConfig({
        rulesFile,
        targets: [`127.0.0.1:${metricsPort}`],
        interval: o.interval ?? '2s',
      }),
    });
    cleanups.push(() => prom.stop());
    o.report(`prometheus at ${prom.url} (alerts.yml with every for: ${forDuration})`);
    await waitFor(
      'the first scrape with no alert active',
      async () =>
        [...(await prom.targets()).values()].every((h) => h === 'up') && (await prom.alerts()).length === 0,
      () => true,
      120_000,
    );

    const id = `order-${crypto.randomBytes(2).toString('hex')}`;
    const kafka = new Kafka({
      clientId: 'idem-alert-drill',
      brokers: o.config.kafka.brokers,
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: TOPIC,
      messages: [
        {
          key: 'acct-7',
          value: JSON.stringify({
            specversion: '1.0',
            source: 'shop',
            id,
            type: EVENT_TYPE,
            data: { order: id },
          }),
          headers: { 'content-type': 'application/cloudevents+json' },
        },
      ],
    });
    await producer.disconnect();
    const sentAt = Date.now();
    o.report(`sent event ${id} (type ${EVENT_TYPE}, key acct-7); its handler blocks`);

    let lastState = '';
    await waitFor(
      'IdemStuckEvents to fire',
      async () => {
        const alert = (await prom.alerts()).find(
          (a: PrometheusAlert) => a.labels.alertname === 'IdemStuckEvents',
        );
        const state = alert?.state ?? 'inactive';
        if (state !== lastState) {
          o.report(
            `  IdemStuckEvents ${state} ${Math.round((Date.now() - sentAt) / 1000)} s after the event was sent`,
          );
          lastState = state;
        }
        return alert?.state === 'firing' && alert;
      },
      consumeAlive,
      stuckAfterMs + 300_000,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    o.print(
      `$ curl -s http://127.0.0.1:${metricsPort}/metrics | grep '^idem_stuck'\n` +
        metrics
          .split('\n')
          .filter((l) => l.startsWith('idem_stuck'))
          .join('\n'),
    );
    for (const args of [['status'], ['stuck']]) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [bin, ...args],
          { env: childEnv, timeout: 120_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 2) : 0, stdout, stderr }),
        ),
      );
      o.print(`$ idem ${args.join(' ')}\n${r.stdout}${r.stderr}$ echo $?\n${r.code}`);
    }
    const raw = await (await fetch(`${prom.url}/api/v1/alerts`)).json();
    o.print(`$ curl -s ${prom.url}/api/v1/alerts | jq\n${JSON.stringify(raw, null, 2)}`);

    if (o.hold) {
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      await rl.question(
        `Held: Prometheus ${prom.url}/alerts, Temporal Web ${o.config.temporal.webUrl}. Enter releases the event. `,
      );
      rl.close();
    }
    fs.writeFileSync(releaseFile, '');
    const releasedAt = Date.now();
    await waitFor(
      'IdemStuckEvents to resolve',
      async () => (await prom.alerts()).every((a) => a.labels.alertname !== 'IdemStuckEvents'),
      consumeAlive,
      300_000,
    );
    o.report(`released: IdemStuckEvents resolved ${Math.round((Date.now() - releasedAt) / 1000)} s later`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        o.report(`  cleanup: ${(err as Error).message}`);
      }
    }
  }
}
