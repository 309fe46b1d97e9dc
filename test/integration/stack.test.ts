/**
 * The foundation's vertical slice on the real stack: a CloudEvent through Kafka,
 * a workflow whose ID is the event's dedup key, an activity writing to
 * PostgreSQL, and Temporal rejecting a second start of the same ID.
 */
import crypto from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { loadConfig } from '../../src/config';
import { parseRecord } from '../../src/events/envelope';
import { workflowIdFor } from '../../src/events/identity';
import { stackStatus } from '../../src/stack/stack';
import { ensureSearchAttributes, temporalAddress } from '../../src/stack/temporal';
import { checkSearchAttributes } from '../../src/temporal/preflight';
import { workflowBundle } from '../../src/testing';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { PROCESS_EVENT_WORKFLOW, type ProcessEventInput } from '../../src/workflows/types';
import { ceRecord, createPipeline, ledgerRegistry, type Pipeline } from '../support/pipeline';
import { readAll } from '../support/kafka';

let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline('stack');
}, 60_000);

afterAll(async () => {
  await p?.close();
});

test('all three servers and Temporal Web answer', async () => {
  const status = await stackStatus(loadConfig());
  expect(status.map((c) => [c.name, c.healthy])).toEqual([
    ['kafka', true],
    ['temporal', true],
    ['temporal-web', true],
    ['postgres', true],
  ]);
});

test('a CloudEvent from Kafka becomes one workflow that writes PostgreSQL; a second start is rejected', async () => {
  const id = crypto.randomUUID();
  await p.producer.send({
    topic: p.topic,
    messages: [
      ceRecord(
        p.source,
        { id, type: 'account.credited', data: { account: `acct-${id}`, amount: 250 } },
        'k1',
      ),
    ],
  });

  // Read it back with a plain kafkajs consumer.
  const records = await readAll(p.kafka, p.topic);
  expect(records).toHaveLength(1);
  const { partition, message } = records[0]!;
  const parsed = parseRecord({ topic: p.topic, partition, ...message }, { maxEventBytes: 262_144 });
  if (!parsed.ok) throw new Error(parsed.error);
  const input: ProcessEventInput = {
    event: { id: parsed.event.id, source: parsed.event.source, type: parsed.event.type },
    message: parsed.raw,
    retry: p.config.retry,
  };

  const workflowId = workflowIdFor(p.source, id);
  const connection = await NativeConnection.connect({ address: p.config.temporal.address });
  const worker = await Worker.create({
    connection,
    taskQueue: p.config.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({
      pool: p.db.pool,
      registry: ledgerRegistry(),
      dlq: { publish: async () => ({ topic: p.dlqTopic, partition: 0, offset: '0' }) },
      maxEventBytes: 262_144,
      outboxTopic: p.config.kafka.outboxTopic,
    }),
  });
  const start = () =>
    p.temporal.workflow.start(PROCESS_EVENT_WORKFLOW, {
      workflowId,
      taskQueue: p.config.temporal.taskQueue,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
  try {
    await worker.runUntil(async () => {
      const handle = await start();
      expect(await handle.result()).toMatchObject({ outcome: 'applied' });
    });
  } finally {
    await connection.close();
  }
  await expect(start()).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);

  const { rows } = await p.db.pool.query('select account, amount from ledger_entries where event_id = $1', [
    workflowId,
  ]);
  expect(rows).toEqual([{ account: `acct-${id}`, amount: '250' }]);
}, 120_000);

test('an ingester pointed at a namespace without idem search attributes stops at start-up with the fix', async () => {
  const namespace = `bare-${crypto.randomBytes(4).toString('hex')}`;
  await p.temporal.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  try {
    await expect(p.start(['ingester'], undefined, { TEMPORAL_NAMESPACE: namespace })).rejects.toThrow(
      /lacks idem's search attributes: IdemEventType, IdemEventKey, IdemSource, IdemOutcome, IdemStage, IdemErrorClass, IdemAttempts\.[\s\S]*temporal operator search-attribute create --namespace bare-\w+ --name IdemAttempts --type Int/,
    );
    // What `idem stack up` does on a Temporal it reuses (one started before some attributes existed).
    expect(await ensureSearchAttributes(temporalAddress, namespace)).toEqual(
      ALL_SEARCH_ATTRIBUTES.map((k) => k.name),
    );
    await expect(checkSearchAttributes(p.temporal.connection, namespace)).resolves.toBeUndefined();
    expect(await ensureSearchAttributes(temporalAddress, namespace)).toEqual([]);
  } finally {
    await p.temporal.connection.operatorService.deleteNamespace({ namespace }).catch(() => undefined);
  }
});
