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
import { Client, Connection } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import type { Kafka, Message } from 'kafkajs';
import { createKafka, startIdem, type IdemProcess } from '../app';
import { parseConfig, resolveEnv, userDatabaseUrl, type Config } from '../config';
import { workflowIdFor } from '../events/identity';
import { readDlq } from '../ingest/dlq-reader';
import type { Logger } from '../observability/logger';
import { ensureTopics } from '../stack/kafka';
import { stackStatus, stackUp } from '../stack/stack';
import { buildScenario, malformedRecords, toRecord, unknownTypeRecord, type Scenario } from './scenario';

export const DEMO_TOPIC = 'idem-demo';

export interface DemoOptions {
  events: number;
  logger: Logger;
  out?: (line: string) => void;
}

export interface DemoReport {
  ok: boolean;
  produced: Record<string, number>;
  outcome: {
    applied: number;
    temporalDuplicates: number;
    storeDuplicates: number;
    deadLettered: Record<string, number>;
  };
  checks: { name: string; ok: boolean; detail: string }[];
  seconds: number;
  webUrl: string;
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

async function metric(
  proc: IdemProcess,
  name: string,
  match: (labels: Record<string, string | number>) => boolean = () => true,
) {
  const m = await proc.metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => match(v.labels as Record<string, string | number>))
    .reduce((s, v) => s + v.value, 0);
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

async function topicEnds(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

async function committedToEnd(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map((committed?.partitions ?? []).map((c) => [c.partition, c.offset]));
    return ends.every((e) => e.high === e.low || byPartition.get(e.partition) === e.high);
  } finally {
    await admin.disconnect();
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
    { topic: `${DEMO_TOPIC}.dlq`, numPartitions: 3 },
    { topic: config.kafka.outboxTopic, numPartitions: 3 },
  ]);

  const startOffsets = await topicEnds(createKafka(config, opts.logger, 'idem-demo-admin'), DEMO_TOPIC);
  out(
    `2/4 Consumer: ingester + Temporal worker + outbox relay on topic ${DEMO_TOPIC}, task queue ${config.temporal.taskQueue}`,
  );
  const proc = await startIdem({
    config,
    logger: opts.logger,
    roles: ['ingester', 'worker', 'relay'],
    serveMetrics: false,
  });
  const kafka = createKafka(config, opts.logger, 'idem-demo-producer');
  const producer = kafka.producer();
  await producer.connect();
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
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
    const progress = async (phase: string) => {
      bar.setTotal(total());
      bar.update(await settled(proc), { phase });
    };
    bar.start(1, 0, { phase: 'producing' });
    const ticker = setInterval(() => void progress('processing'), 250);
    try {
      await sendWave1(scenario, send, config);
      await waitUntil(async () => (await settled(proc)) >= total(), 300_000, 'the first wave to settle');
      await sendLateRedeliveries(scenario, send);
      await sendAfterTemporalForgot(scenario, send, temporal, config);
      await waitUntil(async () => (await settled(proc)) >= total(), 300_000, 'every record to settle');
      await waitUntil(
        () => committedToEnd(kafka, config.kafka.groupId, DEMO_TOPIC),
        60_000,
        'offsets to be committed',
      );
      await progress('done');
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

/** As after Temporal's retention: delete three completed workflows, then redeliver their events.
 * Temporal starts them again; the PostgreSQL store recognises them. */
async function sendAfterTemporalForgot(
  s: Scenario,
  send: Send,
  temporal: Client,
  config: Config,
): Promise<void> {
  const forgotten = s.events.slice(0, 3);
  for (const e of forgotten) {
    const workflowId = workflowIdFor(s.source, e.id);
    await temporal.workflowService.deleteWorkflowExecution({
      namespace: config.temporal.namespace,
      workflowExecution: { workflowId },
    });
    await waitUntil(
      () =>
        temporal.workflow
          .getHandle(workflowId)
          .describe()
          .then(
            () => false,
            () => true,
          ),
      30_000,
      'a workflow deletion',
    );
  }
  await send(
    'redeliveries after Temporal forgot',
    forgotten.map((e) => toRecord(s.source, e)),
  );
}

async function summarize(a: {
  scenario: Scenario;
  proc: IdemProcess;
  config: Config;
  kafka: Kafka;
  produced: Record<string, number>;
  began: number;
  runId: string;
  out: (line: string) => void;
  startOffsets: Map<number, bigint>;
}): Promise<DemoReport> {
  const { scenario: s, proc, config, out } = a;
  const pool = (await import('pg')).Pool;
  const db = new pool({ connectionString: config.database.url, max: 2 });
  try {
    const balances = await db.query<{ account: string; balance: string }>(
      'select account, balance from account_balances where account = any($1)',
      [s.accounts],
    );
    const entries = await db.query<{ n: string }>(
      'select count(*) as n from ledger_entries where account = any($1)',
      [s.accounts],
    );
    const doubles = await db.query<{ n: string }>(
      `select count(*) as n from (select event_id from processed_events where source = $1 group by event_id having count(*) > 1) d`,
      [s.source],
    );
    // Order is promised per key within a partition; copies sent to another partition on
    // purpose form their own groups.
    const order = await db.query<{ event_key: string; offsets: string[] }>(
      `select event_key, array_agg(kafka_offset::text order by processed_at, kafka_offset) as offsets
         from processed_events where source = $1 and status = 'applied' group by event_key, kafka_partition`,
      [s.source],
    );
    // This run's dead-letter records: its own events, and malformed records produced after it began.
    const dlq = (await readDlq(a.kafka, `${DEMO_TOPIC}.dlq`, { since: new Date(a.began) })).filter((e) =>
      e.info.eventSource !== undefined
        ? e.info.eventSource === s.source
        : e.info.originalOffset !== undefined &&
          BigInt(e.info.originalOffset) >= (a.startOffsets.get(e.info.originalPartition ?? -1) ?? 0n),
    );
    const deadLettered: Record<string, number> = {};
    for (const e of dlq) deadLettered[e.info.reason] = (deadLettered[e.info.reason] ?? 0) + 1;
    const appliedRows = await db.query<{ n: string }>(
      `select count(*) as n from processed_events where source = $1 and status = 'applied'`,
      [s.source],
    );
    const unknownRows = await db.query<{ n: string }>(
      `select count(*) as n from processed_events where source = $1 and status = 'dead_lettered'`,
      [s.source],
    );

    const actual = Object.fromEntries(balances.rows.map((r) => [r.account, Number(r.balance)]));
    const balancesOk = s.accounts.every((acc) => (actual[acc] ?? 0) === s.expected[acc]);
    const entryCount = Number(entries.rows[0]?.n ?? 0);
    const orderOk = order.rows.every((r) =>
      r.offsets.every((o, i, arr) => i === 0 || BigInt(arr[i - 1] as string) <= BigInt(o)),
    );
    const applied = Number(appliedRows.rows[0]?.n ?? 0);
    const temporalDuplicates = await metric(proc, 'idem_duplicates_total', (l) => l.layer === 'temporal');
    const storeDuplicates = await metric(proc, 'idem_duplicates_total', (l) => l.layer === 'store');
    const checks = [
      {
        name: 'ledger entries = unique events',
        ok: entryCount === s.events.length,
        detail: `${entryCount} = ${s.events.length}`,
      },
      {
        name: `balances of ${s.accounts.length} accounts = expected totals`,
        ok: balancesOk,
        detail: s.accounts
          .map((acc) => `${acc.split('-').pop()} ${((actual[acc] ?? 0) / 100).toFixed(2)}`)
          .join(', '),
      },
      {
        name: 'double effects',
        ok: Number(doubles.rows[0]?.n) === 0 && entryCount === s.events.length,
        detail: `${Math.max(0, entryCount - s.events.length)}`,
      },
      {
        name: 'per-key order (effects in offset order)',
        ok: orderOk,
        detail: `${new Set(order.rows.map((r) => r.event_key)).size} keys`,
      },
      {
        name: 'dead-lettered events recorded in the store',
        ok: Number(unknownRows.rows[0]?.n) === s.unknownTypeIds.length,
        detail: `${unknownRows.rows[0]?.n} of ${s.unknownTypeIds.length} unknown-type events`,
      },
    ];
    const ok = checks.every((c) => c.ok);
    const seconds = (Date.now() - a.began) / 1000;
    const query = encodeURIComponent(`IdemSource="${s.source}"`);
    const webUrl = `${config.temporal.webUrl}/namespaces/${config.temporal.namespace}/workflows?query=${query}`;

    const pad = (label: string, width = 46) => label.padEnd(width, ' ');
    out('');
    out(`idem demo — run ${a.runId}, ${seconds.toFixed(1)} s`);
    out(`  Records produced to ${DEMO_TOPIC}: ${Object.values(a.produced).reduce((x, y) => x + y, 0)}`);
    for (const [what, n] of Object.entries(a.produced)) out(`    ${pad(what, 46)}${String(n).padStart(6)}`);
    out('  What happened');
    out(`    ${pad('applied (side effects committed once)', 46)}${String(applied).padStart(6)}`);
    out(
      `    ${pad('duplicates skipped by Temporal (workflow ID)', 46)}${String(temporalDuplicates).padStart(6)}`,
    );
    out(`    ${pad('duplicates skipped by the PostgreSQL store', 46)}${String(storeDuplicates).padStart(6)}`);
    const dlqTotal = Object.values(deadLettered).reduce((x, y) => x + y, 0);
    out(`    ${pad(`dead-lettered to ${DEMO_TOPIC}.dlq`, 46)}${String(dlqTotal).padStart(6)}`);
    for (const [reason, n] of Object.entries(deadLettered).sort())
      out(`      ${pad(reason, 44)}${String(n).padStart(6)}`);
    out('  Checks');
    for (const c of checks) out(`    ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
    out(ok ? '  All checks passed: every event applied exactly once.' : '  SOME CHECKS FAILED (see above).');
    out(`  Temporal Web (this run's workflows): ${webUrl}`);
    out(
      `  Dead-letter records: idem dlq list --topic ${DEMO_TOPIC} --since ${new Date(a.began).toISOString()}`,
    );
    return {
      ok,
      produced: a.produced,
      outcome: { applied, temporalDuplicates, storeDuplicates, deadLettered },
      checks,
      seconds,
      webUrl,
    };
  } finally {
    await db.end();
  }
}
