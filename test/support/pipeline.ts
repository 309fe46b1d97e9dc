/**
 * A pipeline per test file on the real stack: its own topics (and dead-letter and
 * outbox topics), consumer group, task queue and database, so files never
 * interfere. Event sources are random per run because the stack's Temporal keeps
 * workflow IDs for its retention period.
 */
import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel, Partitioners, type Producer, type IHeaders } from 'kafkajs';
import { startIdem, type IdemProcess, type Role } from '../../src/app';
import * as ledgerExample from '../../examples/ledger';
import { handlersFromModule } from '../../src/activities/handlers/load';
import type { HandlerRegistry } from '../../src/activities/handlers/registry';
import { parseConfig, resolveEnv, type Config } from '../../src/config';
import { dlqTopicFor } from '../../src/dlq/topic';
import { silentLogger } from '../../src/observability/logger';
import { ensureTopics } from '../../src/stack/kafka';
import { caughtUp, groupLag } from '../../src/observability/lag';
import { createTestDatabase, type TestDatabase } from './db';
import { eventually } from './poll';

/** The ledger example's handlers, as `--handlers examples/ledger` loads them. */
export function ledgerRegistry(): HandlerRegistry {
  return handlersFromModule(ledgerExample, 'examples/ledger').registry;
}

export interface Pipeline {
  name: string;
  topic: string;
  dlqTopic: string;
  config: Config;
  env: Record<string, string>;
  db: TestDatabase;
  kafka: Kafka;
  producer: Producer;
  temporal: Client;
  source: string;
  /** Starts idem in this process (the ledger example's handlers unless `registry` is given); `overrides` change its environment (e.g. a DATABASE_URL through a proxy). */
  start(roles?: Role[], registry?: HandlerRegistry, overrides?: Record<string, string>): Promise<IdemProcess>;
  close(): Promise<void>;
}

export async function createPipeline(name: string, extraEnv: Record<string, string> = {}): Promise<Pipeline> {
  const suffix = crypto.randomBytes(4).toString('hex');
  const topic = `t-${name}-${suffix}`;
  const db = await createTestDatabase(name);
  const base = resolveEnv();
  const env: Record<string, string> = {
    KAFKA_BROKERS: base.KAFKA_BROKERS ?? '127.0.0.1:29092',
    TEMPORAL_ADDRESS: base.TEMPORAL_ADDRESS ?? '127.0.0.1:27233',
    TEMPORAL_NAMESPACE: base.TEMPORAL_NAMESPACE ?? 'default',
    KAFKA_TOPICS: topic,
    KAFKA_GROUP_ID: `g-${name}-${suffix}`,
    TEMPORAL_TASK_QUEUE: `tq-${name}-${suffix}`,
    IDEM_OUTBOX_TOPIC: `${topic}.outbox`,
    DATABASE_URL: db.url,
    IDEM_METRICS_PORT: '0',
    IDEM_RETRY_INITIAL_MS: '50',
    IDEM_RETRY_MAX_MS: '200',
    IDEM_MAX_ATTEMPTS: '3',
    IDEM_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const config = parseConfig(env);
  await ensureTopics(config.kafka.brokers, [
    { topic, numPartitions: 3 },
    { topic: dlqTopicFor(topic), numPartitions: 1 },
    { topic: config.kafka.outboxTopic, numPartitions: 1 },
  ]);
  const kafka = new Kafka({
    clientId: `test-${name}`,
    brokers: config.kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const running: IdemProcess[] = [];
  const source = `test-${name}-${suffix}`;
  return {
    name,
    topic,
    dlqTopic: dlqTopicFor(topic),
    config,
    env,
    db,
    kafka,
    producer,
    temporal,
    source,
    async start(roles: Role[] = ['ingester', 'worker', 'relay'], registry?: HandlerRegistry, overrides = {}) {
      const procConfig = Object.keys(overrides).length ? parseConfig({ ...env, ...overrides }) : config;
      const proc = await startIdem({
        config: procConfig,
        logger: silentLogger,
        roles,
        registry: registry ?? ledgerRegistry(),
        serveMetrics: false,
      });
      running.push(proc);
      return proc;
    },
    async close() {
      for (const p of running.splice(0)) await p.stop();
      // Workflows left running (a killed worker's, say) would wait forever on a task queue
      // nobody polls any more: terminate them so the shared Temporal stays tidy.
      for await (const wf of temporal.workflow.list({
        query: `IdemSource = "${source}" AND ExecutionStatus = "Running"`,
      })) {
        await temporal.workflow
          .getHandle(wf.workflowId, wf.runId)
          .terminate('test finished')
          .catch(() => undefined);
      }
      await producer.disconnect();
      // Topics are per test run; leaving them would make the shared broker grow run after run.
      const admin = kafka.admin();
      await admin.connect();
      await admin
        .deleteTopics({ topics: [topic, dlqTopicFor(topic), config.kafka.outboxTopic] })
        .catch(() => undefined);
      await admin.disconnect();
      await connection.close();
      await db.drop();
    },
  };
}

export interface Ce {
  id: string;
  type: string;
  data?: unknown;
  subject?: string;
}

/** A structured-mode CloudEvent record. */
export function ceRecord(source: string, ce: Ce, key?: string, partition?: number) {
  return {
    key: key ?? null,
    value: JSON.stringify({ specversion: '1.0', source, ...ce }),
    headers: { 'content-type': 'application/cloudevents+json' } as IHeaders,
    ...(partition !== undefined ? { partition } : {}),
  };
}

/** Waits until the consumer group has committed, on every partition, the topic's end offset:
 * every record produced so far was handed off (asked of the broker, not of idem). */
export async function allCommitted(
  p: Pipeline,
  groupId = p.config.kafka.groupId,
  timeoutMs = 90_000,
): Promise<void> {
  await eventually(
    () => caughtUp(p.kafka, groupId, p.topic),
    timeoutMs,
    `group ${groupId} to commit the end of ${p.topic}`,
  );
}

/** Records of the topic the consumer group has not committed yet (asked of the broker). */
export async function uncommitted(p: Pipeline, groupId = p.config.kafka.groupId): Promise<bigint> {
  return (await groupLag(p.kafka, groupId, p.topic)).reduce((n, part) => n + part.lag, 0n);
}

export async function ledger(p: Pipeline, accountPrefix: string) {
  const balances = await p.db.pool.query<{ account: string; balance: string; entries: string }>(
    'select account, balance, entries from account_balances where account like $1 order by account',
    [`${accountPrefix}%`],
  );
  const entries = await p.db.pool.query<{ n: string }>(
    'select count(*) as n from ledger_entries where account like $1',
    [`${accountPrefix}%`],
  );
  return {
    balances: Object.fromEntries(balances.rows.map((r) => [r.account, Number(r.balance)])),
    entries: Number(entries.rows[0]?.n ?? 0),
  };
}

export async function metricValue(
  proc: { metrics: { registry: { getSingleMetricAsString(n: string): Promise<string> } } },
  name: string,
  labels = '',
): Promise<number> {
  const text = await proc.metrics.registry.getSingleMetricAsString(name);
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name} `)),
    );
  return line ? Number(line.split(' ').pop()) : 0;
}
