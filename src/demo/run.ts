/**
 * `idem demo`: the local stack, a consumer in this process, a mixed stream of
 * events with duplicates and bad records, then a summary a newcomer can read at a
 * glance, checked against the ledger's expected totals.
 *
 * The demo uses its own topic (`idem-demo`), consumer group and task queue, so it
 * never competes with an `idem consume` on `events`; every run has its own event
 * source and accounts, so runs never see each other's events.
 */
import crypto from 'node:crypto';
import { Connection, type Client } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import { Partitioners, type Message } from 'kafkajs';
import * as ledger from '../../examples/ledger';
import { handlersFromModule } from '../activities/handlers/load';
import { createKafka, startIdem, type IdemProcess } from '../app';
import { createMetrics } from '../observability/metrics';
import { parseConfig, resolveEnv, userDatabaseUrl, type Config } from '../config';
import { dlqTopicFor } from '../dlq/topic';
import { workflowIdFor } from '../events/identity';
import { caughtUp, groupLag } from '../observability/lag';
import { silentLogger, type Logger } from '../observability/logger';
import { ensureTopics } from '../stack/kafka';
import { stackStatus, stackUp } from '../stack/stack';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';
import { DEMO_TOPIC, metric, summarize, type DemoReport } from './summary';
import { buildScenario, malformedRecords, toRecord, unknownTypeRecord, type Scenario } from './scenario';

export interface DemoOptions {
  events: number;
  logger: Logger;
  out?: (line: string) => void;
}

function demoConfig(): Config {
  const env = resolveEnv();
  return parseConfig({
    ...env,
    KAFKA_TOPICS: DEMO_TOPIC,
    KAFKA_GROUP_ID: 'idem-demo',
    TEMPORAL_TASK_QUEUE: 'idem-demo',
    IDEM_OUTBOX_TOPIC: `${DEMO_TOPIC}.outbox`,
    IDEM_MAX_EVENT_BYTES: env.IDEM_MAX_EVENT_BYTES ?? '65536',
    // Short retries so the demo's permanent failures settle in seconds.
    IDEM_RETRY_INITIAL_MS: '200',
    IDEM_RETRY_MAX_MS: '1000',
  });
}

async function settled(proc: IdemProcess): Promise<number> {
  return (
    (await metric(proc, 'idem_events_applied_total')) +
    (await metric(proc, 'idem_duplicates_total')) +
    (await metric(proc, 'idem_dead_lettered_total'))
  );
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const out = opts.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const began = Date.now();
  const runId = crypto.randomBytes(3).toString('hex');

  out('1/4 Local stack (Kafka, Temporal, PostgreSQL)');
  const baseConfig = parseConfig(resolveEnv());
  const status = await stackStatus(baseConfig);
  if (!status.every((c) => c.healthy)) {
    await stackUp({ config: baseConfig, externalDatabaseUrl: userDatabaseUrl() });
  } else out('  ✓ already running');

  const config = demoConfig();
  await ensureTopics(config.kafka.brokers, [
    { topic: DEMO_TOPIC, numPartitions: 6 },
    { topic: dlqTopicFor(DEMO_TOPIC), numPartitions: 3 },
    { topic: config.kafka.outboxTopic, numPartitions: 3 },
  ]);

  // Where this run's records begin, to tell its dead-letter records from earlier runs'. On a new
  // broker the group coordinator takes a moment to appear; groupLag retries that, so kafkajs's own
  // log line about it is noise in a newcomer's first demo.
  const admin = createKafka(config, silentLogger, 'idem-demo-admin');
  const startOffsets = new Map(
    (await groupLag(admin, config.kafka.groupId, DEMO_TOPIC)).map((p) => [p.partition, p.end]),
  );
  out(
    `2/4 Consumer: ingester + Temporal worker + outbox relay on topic ${DEMO_TOPIC}, task queue ${config.temporal.taskQueue}`,
  );
  // The demo runs the ledger example, as `idem consume --handlers examples/ledger` would.
  const { registry, migrations } = handlersFromModule(ledger, 'examples/ledger');
  // One set of counters for the consumer and the one that replaces it after the first wave.
  const metrics = createMetrics();
  const startConsumer = () =>
    startIdem({
      config,
      registry,
      migrations,
      logger: opts.logger,
      roles: ['ingester', 'worker', 'relay'],
      serveMetrics: false,
      metrics,
    });
  let proc = await startConsumer();
  const kafka = createKafka(config, opts.logger, 'idem-demo-producer');
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = temporalClient(config, connection);
  const scenario = buildScenario(runId, opts.events);
  const produced: Record<string, number> = {};
  const send = async (what: string, messages: Message[]) => {
    produced[what] = (produced[what] ?? 0) + messages.length;
    for (let i = 0; i < messages.length; i += 500)
      await producer.send({ topic: DEMO_TOPIC, messages: messages.slice(i, i + 500) });
  };
  const total = () => Object.values(produced).reduce((a, b) => a + b, 0);

  try {
    out(
      `3/4 Producing run ${runId}: ${opts.events} ledger events on ${scenario.accounts.length} accounts, with duplicates and bad records`,
    );
    const bar = new SingleBar({
      format: '  {bar} {value}/{total} records settled  ({phase})',
      noTTYOutput: true,
      notTTYSchedule: 3000,
      hideCursor: true,
    });
    let phase = 'producing';
    const progress = async () => {
      bar.setTotal(total());
      bar.update(await settled(proc), { phase });
    };
    bar.start(1, 0, { phase });
    const ticker = setInterval(() => void progress(), 250);
    try {
      await sendWave1(scenario, send, config);
      phase = 'processing';
      const forgetting = forgetInTemporal(scenario, temporal, config);
      await waitUntil(async () => (await settled(proc)) >= total(), 300_000, 'the first wave to settle');
      // As a deploy would: the new process has not seen the first wave, so copies of its applied
      // events are found by the store's lookup, not in the ingester's memory.
      phase = 'restarting the consumer';
      await proc.stop();
      proc = await startConsumer();
      phase = 'processing';
      await sendLateRedeliveries(scenario, send);
      await waitUntil(async () => (await settled(proc)) >= total(), 300_000, 'late redeliveries to settle');
      phase = 'Temporal is deleting 3 completed workflows, as retention would; this takes 10-40 s';
      await forgetting;
      phase = 'redelivering the forgotten events';
      await sendAfterTemporalForgot(scenario, send);
      await waitUntil(async () => (await settled(proc)) >= total(), 300_000, 'every record to settle');
      await waitUntil(
        () => caughtUp(kafka, config.kafka.groupId, DEMO_TOPIC),
        60_000,
        'offsets to be committed',
      );
      phase = 'done';
      await progress();
    } finally {
      clearInterval(ticker);
      bar.stop();
    }

    out('4/4 Checking the ledger');
    return await summarize({ scenario, proc, config, kafka, produced, began, runId, out, startOffsets });
  } finally {
    await producer.disconnect();
    await connection.close();
    await proc.stop();
  }
}

type Send = (what: string, messages: Message[]) => Promise<void>;

/** Unique events, copies on the same partition and on another one, bad records, an unknown type. */
async function sendWave1(s: Scenario, send: Send, config: Config): Promise<void> {
  const messages: Message[] = [];
  const dupSame: Message[] = [];
  const dupOther: Message[] = [];
  s.events.forEach((e, i) => {
    messages.push(toRecord(s.source, e));
    if (i % 4 === 1) dupSame.push(toRecord(s.source, e));
    if (i % 10 === 3) dupOther.push(toRecord(s.source, e, (i % 6) as number));
  });
  await send('unique ledger events', messages);
  await send('copies on the same partition', dupSame);
  await send('copies on another partition', dupOther);
  await send(
    'malformed records',
    malformedRecords(s.source, config.ingest.maxEventBytes).map((m) => m.message),
  );
  const account = s.accounts[0] as string;
  await send(
    'unknown event type',
    s.unknownTypeIds.map((id) => unknownTypeRecord(s.source, id, account)),
  );
}

/** Copies of completed events, and of the dead-lettered ones: Temporal still knows them. */
async function sendLateRedeliveries(s: Scenario, send: Send): Promise<void> {
  await send(
    'redeliveries after completion',
    s.events.filter((_, i) => i % 10 === 7).map((e) => toRecord(s.source, e)),
  );
  await send(
    'redeliveries of dead-lettered events',
    s.unknownTypeIds.map((id) => unknownTypeRecord(s.source, id, s.accounts[0] as string)),
  );
}

/** Events with no copies in the stream but the ones sent after Temporal forgot them. */
function forgettable(s: Scenario) {
  return s.events.filter((_, i) => i % 4 !== 1 && i % 10 !== 3 && i % 10 !== 7).slice(0, 3);
}

/**
 * As after Temporal's retention: once three events have completed, delete their
 * workflows (Temporal deletes asynchronously, in seconds). Runs while the rest of
 * the stream is processed; their redeliveries are sent afterwards, and the
 * PostgreSQL store recognises them.
 */
async function forgetInTemporal(s: Scenario, temporal: Client, config: Config): Promise<void> {
  const describeStatus = (workflowId: string) =>
    temporal.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        (d) => d.status.name,
        () => 'GONE',
      );
  await Promise.all(
    forgettable(s).map(async (e) => {
      const workflowId = workflowIdFor(s.source, e.id);
      await waitUntil(
        async () => (await describeStatus(workflowId)) === 'COMPLETED',
        120_000,
        'a workflow to complete',
      );
      await temporal.workflowService.deleteWorkflowExecution({
        namespace: config.temporal.namespace,
        workflowExecution: { workflowId },
      });
      await waitUntil(
        async () => (await describeStatus(workflowId)) === 'GONE',
        120_000,
        'a workflow deletion',
      );
    }),
  );
}

async function sendAfterTemporalForgot(s: Scenario, send: Send): Promise<void> {
  await send(
    'redeliveries after Temporal forgot',
    forgettable(s).map((e) => toRecord(s.source, e)),
  );
}
