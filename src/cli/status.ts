/**
 * `idem status`: whether events flow, at a glance. Each server's health (Kafka, Temporal,
 * PostgreSQL answer), the consumer group's lag per partition and in total (asked of the broker for
 * KAFKA_GROUP_ID), the event workflows running and stuck (Temporal's visibility), the dead-letter
 * topics' records, the parked keys, and the last minute's throughput (processed_events). Each part
 * is asked on its own: a server that does not answer leaves its parts out, the others still show.
 *
 * Exit code 0 when every server answers and no event is stuck, 1 when events are stuck, 2 when a
 * server does not answer or the command cannot run.
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { loadConfig, type Config } from '../config';
import { readDlq } from '../dlq/reader';
import { dlqTopicFor } from '../dlq/topic';
import { escapeControls } from '../events/utf8';
import { formatDuration } from '../observability/duration';
import { topicLag } from '../observability/lag';
import { redactSecrets } from '../observability/redact';
import { findStuck, runningQuery } from '../observability/stuck';
import { countParked } from '../store/sql/key-parking';
import { recentOutcomes } from '../store/sql/recent-outcomes';
import { IdemStage, STAGES, type Stage } from '../workflows/search-attributes';
import {
  EXIT_ATTENTION,
  EXIT_CANNOT_RUN,
  EXIT_OK,
  oneLine,
  operatorKafka,
  operatorPool,
  operatorTemporal,
  runOperatorCommand,
} from './operator-clients';

/** Dead-letter topics with at most this many records are read to count their dead-letterings
 * (copies of one collapse); larger ones show their record count only. */
const DLQ_READ_LIMIT = 10_000;
const THROUGHPUT_WINDOW_S = 60;

export interface ComponentHealth {
  name: 'Kafka' | 'Temporal' | 'PostgreSQL';
  address: string;
  ok: boolean;
  /** How long the check took. */
  ms: number;
  error?: string;
}

/** The IdemStage values a running workflow can have: all but those of its end. */
type RunningStage = Exclude<Stage, 'dead_lettered' | 'done'>;
const RUNNING_STAGES = STAGES.filter((s): s is RunningStage => s !== 'dead_lettered' && s !== 'done');

export interface StatusReport {
  at: string;
  components: ComponentHealth[];
  /** From the broker; absent when Kafka does not answer. */
  consumer?: {
    groupId: string;
    topics: {
      topic: string;
      lag: number;
      partitions: { partition: number; committed: string | null; end: string; lag: number }[];
    }[];
    totalLag: number;
  };
  /** From Temporal's visibility; absent when Temporal does not answer. */
  workflows?: {
    taskQueue: string;
    running: number;
    /** Running workflows by the IdemStage they last recorded (a failed attempt, a wait, a
     * dead-lettering that waits for Kafka); those with none (no attempt failed yet) are not counted. */
    runningByStage: Record<RunningStage, number>;
    stuck: { olderThanMs: number; count: number; oldestAgeMs: number };
  };
  /** Records of each `<topic>.dlq`; `deadLetterings` counts copies of one dead-lettering once
   * (absent when the topic has more than 10,000 records, which are not read). */
  deadLetters?: { topic: string; records: number; deadLetterings?: number }[];
  /** From the store; absent when PostgreSQL does not answer. */
  parked?: { keys: number; events: number };
  lastMinute?: { applied: number; deadLettered: number; appliedPerSecond: number };
  /** Parts that could not be gathered, and why. */
  problems: string[];
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "health of Kafka, Temporal and PostgreSQL, the consumer group's lag, running and stuck event " +
        'workflows, dead-letter records, parked keys and the last minute’s throughput; exit 0 when all ' +
        'is well, 1 when events are stuck, 2 when a server does not answer',
    )
    .option('--json', 'the report as JSON on stdout')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN))
    .action((o: { json?: boolean }) =>
      runOperatorCommand('status', async () => {
        const report = await collectStatus(loadConfig());
        console.log(o.json ? JSON.stringify(report, null, 2) : formatStatus(report));
        if (report.components.some((c) => !c.ok)) return EXIT_CANNOT_RUN;
        return (report.workflows?.stuck.count ?? 0) > 0 ? EXIT_ATTENTION : EXIT_OK;
      }),
    );
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await fn();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

/** Gathers the report: the three servers are asked in parallel, each part independently. */
export async function collectStatus(config: Config): Promise<StatusReport> {
  const report: StatusReport = { at: new Date().toISOString(), components: [], problems: [] };
  const [kafka, temporal, store] = await Promise.all([
    kafkaPart(config, report),
    temporalPart(config, report),
    storePart(config, report),
  ]);
  report.components = [kafka, temporal, store];
  return report;
}

async function kafkaPart(config: Config, report: StatusReport): Promise<ComponentHealth> {
  const address = config.kafka.brokers.join(',');
  let kafka: Kafka | undefined;
  const admin = await timed(async () => {
    kafka = await operatorKafka(config, 'idem-status');
    const a = kafka.admin();
    await a.connect();
    return a;
  });
  if (!admin.value || !kafka)
    return { name: 'Kafka', address, ok: false, ms: admin.ms, error: oneLine(admin.error) };
  const a = admin.value;
  try {
    const topics: NonNullable<StatusReport['consumer']>['topics'] = [];
    for (const topic of config.kafka.topics) {
      const parts = await topicLag(a, config.kafka.groupId, topic).catch((err: unknown) => {
        report.problems.push(`consumer lag of ${topic}: ${oneLine(err)}`);
        return [];
      });
      topics.push({
        topic,
        lag: parts.reduce((n, p) => n + Number(p.lag), 0),
        partitions: parts.map((p) => ({
          partition: p.partition,
          committed: p.committed === undefined ? null : p.committed.toString(),
          end: p.end.toString(),
          lag: Number(p.lag),
        })),
      });
    }
    report.consumer = {
      groupId: config.kafka.groupId,
      topics,
      totalLag: topics.reduce((n, t) => n + t.lag, 0),
    };
    report.deadLetters = [];
    for (const topic of config.kafka.topics.map(dlqTopicFor)) {
      try {
        const ends = await a.fetchTopicOffsets(topic);
        const records = ends.reduce((n, e) => n + Number(BigInt(e.high) - BigInt(e.low)), 0);
        const entry: NonNullable<StatusReport['deadLetters']>[number] = { topic, records };
        if (records > 0 && records <= DLQ_READ_LIMIT)
          entry.deadLetterings = (await readDlq(kafka, topic)).length;
        else if (records === 0) entry.deadLetterings = 0;
        report.deadLetters.push(entry);
      } catch (err) {
        report.problems.push(`dead-letter topic ${topic}: ${oneLine(err)}`);
      }
    }
    return { name: 'Kafka', address, ok: true, ms: admin.ms };
  } finally {
    await a.disconnect().catch(() => undefined);
  }
}

async function temporalPart(config: Config, report: StatusReport): Promise<ComponentHealth> {
  const address = `${config.temporal.address} (namespace ${config.temporal.namespace})`;
  let client: Client | undefined;
  let close: (() => Promise<void>) | undefined;
  const connected = await timed(async () => {
    const t = await operatorTemporal(config);
    client = t.client;
    close = t.close;
    // The connection alone proves little; the namespace must answer too.
    await t.client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
  });
  try {
    if (connected.error !== undefined || !client)
      return { name: 'Temporal', address, ok: false, ms: connected.ms, error: oneLine(connected.error) };
    const taskQueue = config.temporal.taskQueue;
    try {
      // Visibility groups counts by ExecutionStatus only: one count per stage.
      const workflows = client.workflow;
      const [running, stuck, ...byStage] = await Promise.all([
        workflows.count(runningQuery(taskQueue)),
        findStuck(client, {
          taskQueue,
          namespace: config.temporal.namespace,
          webUrl: config.temporal.webUrl,
          olderThanMs: config.monitoring.stuckAfterMs,
          limit: 0,
        }),
        ...RUNNING_STAGES.map((stage) =>
          workflows.count(`${runningQuery(taskQueue)} AND ${IdemStage.name} = "${stage}"`),
        ),
      ]);
      report.workflows = {
        taskQueue,
        running: running.count,
        runningByStage: Object.fromEntries(
          RUNNING_STAGES.map((stage, i) => [stage, byStage[i]?.count ?? 0]),
        ) as Record<RunningStage, number>,
        stuck: { olderThanMs: stuck.olderThanMs, count: stuck.count, oldestAgeMs: stuck.oldestAgeMs },
      };
    } catch (err) {
      report.problems.push(`workflows of task queue ${taskQueue}: ${oneLine(err)}`);
    }
    return { name: 'Temporal', address, ok: true, ms: connected.ms };
  } finally {
    await close?.().catch(() => undefined);
  }
}

async function storePart(config: Config, report: StatusReport): Promise<ComponentHealth> {
  const address = redactSecrets(config.database.url);
  let pool: Pool | undefined;
  try {
    const p = operatorPool(config);
    pool = p;
    const checked = await timed(() => p.query('select 1 from processed_events limit 0'));
    if (checked.error !== undefined)
      return { name: 'PostgreSQL', address, ok: false, ms: checked.ms, error: oneLine(checked.error) };
    const [parked, recent] = await Promise.all([
      countParked(p).catch((err: unknown) => {
        report.problems.push(`parked keys: ${oneLine(err)}`);
        return undefined;
      }),
      recentOutcomes(p, THROUGHPUT_WINDOW_S).catch((err: unknown) => {
        report.problems.push(`throughput: ${oneLine(err)}`);
        return undefined;
      }),
    ]);
    if (parked) report.parked = parked;
    if (recent)
      report.lastMinute = {
        ...recent,
        appliedPerSecond: Math.round((recent.applied / THROUGHPUT_WINDOW_S) * 100) / 100,
      };
    return { name: 'PostgreSQL', address, ok: true, ms: checked.ms };
  } catch (err) {
    return { name: 'PostgreSQL', address, ok: false, ms: 0, error: oneLine(err) };
  } finally {
    await pool?.end().catch(() => undefined);
  }
}

/** ` (2 retrying, 1 waiting_for_store)`: the running workflows' stages that are not 0, or nothing. */
function stagesOf(byStage: Partial<Record<RunningStage, number>> | undefined): string {
  const parts = RUNNING_STAGES.filter((s) => (byStage?.[s] ?? 0) > 0).map((s) => `${byStage?.[s]} ${s}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** The report for a terminal. */
export function formatStatus(r: StatusReport): string {
  const t = escapeControls;
  const out: string[] = [`idem status at ${r.at}`, ''];
  for (const c of r.components)
    out.push(
      `${c.ok ? '✓' : '✗'} ${c.name.padEnd(11)} ${c.ok ? `answers in ${c.ms} ms` : 'DOES NOT ANSWER'}  ${c.address}` +
        (c.error ? `\n    ${t(c.error)}` : ''),
    );
  out.push('');
  if (r.consumer) {
    out.push(`Consumer group ${t(r.consumer.groupId)}: lag ${r.consumer.totalLag} record(s) in total`);
    for (const topic of r.consumer.topics) {
      out.push(`  ${t(topic.topic)}: lag ${topic.lag}`);
      for (const p of topic.partitions)
        out.push(
          `    partition ${String(p.partition).padEnd(3)} committed ${(p.committed ?? 'none').padStart(10)}  end ${p.end.padStart(10)}  lag ${p.lag}`,
        );
    }
  } else out.push('Consumer group: unknown (Kafka does not answer)');
  if (r.workflows) {
    const s = r.workflows.stuck;
    out.push(
      `Event workflows on task queue ${t(r.workflows.taskQueue)}: ${r.workflows.running} running${stagesOf(r.workflows.runningByStage)}, ` +
        (s.count === 0
          ? `none stuck (running for more than ${formatDuration(s.olderThanMs)})`
          : `${s.count} STUCK (running for more than ${formatDuration(s.olderThanMs)}, or waiting out a PostgreSQL outage), ` +
            `the oldest for ${formatDuration(s.oldestAgeMs)}; idem stuck lists them`),
    );
  } else out.push('Event workflows: unknown (Temporal does not answer)');
  if (r.deadLetters) {
    const parts = r.deadLetters.map(
      (d) =>
        `${t(d.topic)} ${d.records} record(s)` +
        (d.deadLetterings === undefined
          ? ' (not read: too many to count by dead-lettering)'
          : d.deadLetterings !== d.records
            ? ` (${d.deadLetterings} dead-lettering(s))`
            : ''),
    );
    out.push(
      `Dead letters: ${parts.join(', ') || 'no topic'}${r.deadLetters.some((d) => d.records > 0) ? '; idem dlq list shows them' : ''}`,
    );
  } else out.push('Dead letters: unknown (Kafka does not answer)');
  if (r.parked)
    out.push(
      `Parked keys: ${r.parked.keys}, with ${r.parked.events} event(s) waiting${r.parked.keys > 0 ? '; idem dlq list shows which' : ''}`,
    );
  else out.push('Parked keys: unknown (PostgreSQL does not answer)');
  if (r.lastMinute)
    out.push(
      `Last minute: ${r.lastMinute.applied} applied (${r.lastMinute.appliedPerSecond}/s), ${r.lastMinute.deadLettered} dead-lettered`,
    );
  else out.push('Last minute: unknown (PostgreSQL does not answer)');
  if (r.problems.length > 0) out.push('', 'Not gathered:', ...r.problems.map((p) => `  ${t(p)}`));
  return out.join('\n');
}
