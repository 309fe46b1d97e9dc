/**
 * `idem prune` on the real stack: rows with old processed_at, a dead-letter topic whose retention
 * the test sets in Kafka, the namespace retention Temporal reports. Only what is past retention
 * goes (and the rows of records rejected at ingest as old); what a dead-letter record or a parked
 * key still needs stays; batches; a dry run changes nothing; the Temporal Schedule installs, runs once when triggered, and goes.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigResourceTypes } from 'kafkajs';
import { ConfigError } from '../../src/errors';
import { prune, type PruneDeps } from '../../src/prune/prune';
import {
  describePruneSchedule,
  installPruneSchedule,
  PRUNE_WORKFLOW,
  removePruneSchedule,
  triggerPruneSchedule,
} from '../../src/prune/schedule';
import type { PruneReport } from '../../src/prune/types';
import { namespaceRetentionMs } from '../../src/temporal/namespace-retention';
import { createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');
const DAY = 86_400_000;

let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline('prune', { IDEM_DEDUP_RETENTION: '30d' });
  // The dead-letter topic keeps records 50 days (+ 1 day segments): longer than the store's 30.
  // The source topic keeps 7 days: a replay cannot reach past the store's retention.
  await setTopicConfig(p.dlqTopic, { 'retention.ms': String(50 * DAY), 'segment.ms': String(DAY) });
  await setTopicConfig(p.topic, { 'retention.ms': String(7 * DAY), 'segment.ms': String(DAY) });
}, 120_000);

afterAll(async () => {
  await removePruneSchedule(p.temporal, p.config.temporal.taskQueue).catch(() => undefined);
  await p?.close();
});

async function setTopicConfig(topic: string, entries: Record<string, string>): Promise<void> {
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: Object.entries(entries).map(([name, value]) => ({ name, value })),
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

interface Row {
  id: string;
  ageDays: number;
  status?: 'applied' | 'dead_lettered';
  deadLetteredCount?: number;
  redriveCount?: number;
  topic?: string;
}

async function insertRows(rows: Row[]): Promise<void> {
  for (const r of rows) {
    await p.db.pool.query(
      `insert into processed_events
         (event_id, source, id, type, status, kafka_topic, kafka_partition, kafka_offset,
          dead_lettered_count, redrive_count, first_seen_at, processed_at)
       values ($1, $2, $3, 'account.credited', $4, $5, 0, 0, $6, $7,
               now() - make_interval(days => $8), now() - make_interval(days => $8))`,
      [
        `event:${p.source}:${r.id}`,
        p.source,
        r.id,
        r.status ?? 'applied',
        r.topic ?? p.topic,
        r.deadLetteredCount ?? (r.status === 'dead_lettered' ? 1 : 0),
        r.redriveCount ?? 0,
        r.ageDays,
      ],
    );
  }
}

async function remainingIds(): Promise<string[]> {
  const { rows } = await p.db.pool.query<{ id: string }>(
    'select id from processed_events where source = $1 order by id',
    [p.source],
  );
  return rows.map((r) => r.id);
}

/** Offsets of the test topic's ingest_rejections rows. */
async function remainingRejections(): Promise<string[]> {
  const { rows } = await p.db.pool.query<{ kafka_offset: string }>(
    'select kafka_offset from ingest_rejections where topic = $1 order by kafka_offset',
    [p.topic],
  );
  return rows.map((r) => r.kafka_offset);
}

function deps(): PruneDeps {
  return {
    pool: p.db.pool,
    kafka: p.kafka,
    namespace: p.config.temporal.namespace,
    namespaceRetentionMs: () => namespaceRetentionMs(p.temporal.connection, p.config.temporal.namespace),
    topics: p.config.kafka.topics,
  };
}

const KEPT = [
  'applied-20d', // within the store's retention
  'dead-40d', // dead-lettered; the dead-letter topic may still hold its record (51 days)
  'redriven-40d', // applied by a redrive: an older record of it may still be in the topic
  'dead-60d-parked', // a parked key waits behind it
];
const DELETED = [
  'applied-40d',
  'dead-60d', // past the dead-letter topic's retention too
  'redriven-60d',
  'dead-40d-no-dlq-topic', // its topic has no dead-letter topic: no record to redrive
];

test('deletes only what is past retention (rejected records too), keeps what a dead-letter record or a parked key needs, in batches; a dry run changes nothing', async () => {
  const bulk = Array.from({ length: 120 }, (_, i) => ({
    id: `bulk-${String(i).padStart(3, '0')}`,
    ageDays: 31 + (i % 5),
  }));
  await insertRows([
    { id: 'applied-20d', ageDays: 20 },
    { id: 'applied-40d', ageDays: 40 },
    { id: 'dead-40d', ageDays: 40, status: 'dead_lettered' },
    { id: 'dead-60d', ageDays: 60, status: 'dead_lettered' },
    { id: 'redriven-40d', ageDays: 40, deadLetteredCount: 1, redriveCount: 1 },
    { id: 'redriven-60d', ageDays: 60, deadLetteredCount: 1, redriveCount: 1 },
    { id: 'dead-60d-parked', ageDays: 60, status: 'dead_lettered' },
    { id: 'dead-40d-no-dlq-topic', ageDays: 40, status: 'dead_lettered', topic: `${p.topic}-gone` },
    ...bulk,
  ]);
  await p.db.pool.query(
    `insert into parked_keys (topic, event_key, kafka_partition, blocked_by) values ($1, 'k', 0, $2)`,
    [p.topic, `event:${p.source}:dead-60d-parked`],
  );
  // Records rejected at ingest whose dead-letter copy was published 20 days ago (kept) and 31 to
  // 40 days ago (past the retention: 60 of them, so their deletes take two batches as well).
  await p.db.pool.query(
    `insert into ingest_rejections (topic, kafka_partition, kafka_offset, reason, published_at)
     select $1, 0, o, 'invalid_envelope', now() - make_interval(days => case when o = 0 then 20 else 30 + o % 10 + 1 end)
       from generate_series(0, 60) as o`,
    [p.topic],
  );
  const before = await remainingIds();
  const rejectionsBefore = await remainingRejections();

  const dry = await prune(deps(), { retentionMs: 30 * DAY, batchSize: 50, dryRun: true });
  expect(dry).toMatchObject({
    dryRun: true,
    prunable: DELETED.length + bulk.length,
    rejectionsPrunable: 60,
    deleted: 0,
    rejectionsDeleted: 0,
    batches: 0,
  });
  expect(dry.keptForDeadLetter).toBe(2);
  expect(dry.keptForParkedKey).toBe(1);
  expect(await remainingIds()).toEqual(before);
  expect(await remainingRejections()).toEqual(rejectionsBefore);
  expect(dry.namespaceRetentionMs).toBeGreaterThan(0);
  const hold = dry.deadLetterHolds.find((h) => h.topic === p.topic);
  expect(hold).toMatchObject({ dlqTopic: p.dlqTopic, retentionMs: 50 * DAY, segmentMs: DAY });
  expect(hold?.keepsAtMostMs).toBe(51 * DAY + 3_600_000);
  expect(dry.deadLetterHolds.find((h) => h.topic === `${p.topic}-gone`)).toMatchObject({ missing: true });
  expect(dry.replayWindows).toEqual([
    { topic: p.topic, keepsAtMostMs: 8 * DAY + 3_600_000, exceedsRetention: false },
  ]);
  expect(dry.warnings).toEqual([]);

  const progress: number[] = [];
  const report = await prune(deps(), {
    retentionMs: 30 * DAY,
    batchSize: 50,
    onBatch: (b) => progress.push(b.deleted + b.rejectionsDeleted),
  });
  const total = DELETED.length + bulk.length;
  expect(report).toMatchObject({
    dryRun: false,
    prunable: total,
    deleted: total,
    rejectionsDeleted: 60,
    interrupted: false,
  });
  expect(report.batches).toBe(Math.ceil(total / 50) + 2);
  expect(progress).toEqual([50, 100, total, total + 50, total + 60]);
  expect(await remainingIds()).toEqual([...KEPT].sort());
  expect(await remainingRejections()).toEqual(['0']);

  // Nothing left to do: a second run deletes nothing.
  expect((await prune(deps(), { retentionMs: 30 * DAY, batchSize: 50 })).deleted).toBe(0);
  await p.db.pool.query('delete from parked_keys where topic = $1', [p.topic]);
});

test('a store retention shorter than the namespace retention stops the prune with the fix', async () => {
  const namespaceMs = await namespaceRetentionMs(p.temporal.connection, p.config.temporal.namespace);
  const err = await prune(deps(), { retentionMs: namespaceMs - 1000, batchSize: 50 }).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(/IDEM_DEDUP_RETENTION .* is shorter than the workflow retention/);
  expect((err as Error).message).toMatch(/temporal operator namespace update/);
});

test('a worker refuses to start with a store retention shorter than the namespace retention', async () => {
  const err = await p.start(['worker'], undefined, { IDEM_DEDUP_RETENTION: '1h' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(
    /IDEM_DEDUP_RETENTION \(1h\) is shorter than the workflow retention/,
  );
});

test('a source topic that keeps records longer than the store is reported (the replay window)', async () => {
  await setTopicConfig(p.topic, { 'retention.ms': '-1' });
  try {
    const r = await prune(deps(), { retentionMs: 30 * DAY, batchSize: 50, dryRun: true });
    expect(r.replayWindows).toEqual([{ topic: p.topic, keepsAtMostMs: null, exceedsRetention: true }]);
    expect(r.warnings.join('\n')).toMatch(new RegExp(`topic ${p.topic} keeps records for ever`));
  } finally {
    await setTopicConfig(p.topic, { 'retention.ms': String(7 * DAY), 'segment.ms': String(DAY) });
  }
});

test('the built CLI: --dry-run --json reports and changes nothing; a too short retention exits 1 with the fix', () => {
  const run = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [BIN, 'prune', ...args], {
      cwd: REPO,
      env: { ...process.env, ...p.env, ...env },
      encoding: 'utf8',
      timeout: 120_000,
    });
  const dry = run({}, '--dry-run', '--json');
  expect(dry.stderr).toBe('');
  expect(dry.status).toBe(0);
  const report = JSON.parse(dry.stdout) as PruneReport;
  expect(report).toMatchObject({ dryRun: true, deleted: 0, retentionMs: 30 * DAY });

  const human = run({}, '--dry-run');
  expect(human.status).toBe(0);
  expect(human.stdout).toMatch(/IDEM_DEDUP_RETENTION 30d; Temporal namespace "default" keeps workflows/);
  expect(human.stdout).toMatch(/dry run: would delete \d+ rows and \d+ rejection rows; nothing was changed/);
  expect(human.stdout).toMatch(
    /ingest_rejections rows of records rejected at ingest, published before the cutoff: \d+/,
  );

  const short = run({ IDEM_DEDUP_RETENTION: '2h' });
  expect(short.status).toBe(1);
  expect(short.stderr).toMatch(/IDEM_DEDUP_RETENTION \(2h\) is shorter than the workflow retention/);
});

test('the Temporal Schedule installs, runs the prune on a worker once triggered, and is removed', async () => {
  await insertRows([
    { id: 'scheduled-45d', ageDays: 45 },
    { id: 'scheduled-10d', ageDays: 10 },
  ]);
  await p.start(['worker']);
  const taskQueue = p.config.temporal.taskQueue;
  const installed = await installPruneSchedule(p.temporal, {
    taskQueue,
    everyMs: DAY,
    input: { batchSize: 10 },
  });
  expect(installed.created).toBe(true);
  // Installing again updates it.
  expect(
    (await installPruneSchedule(p.temporal, { taskQueue, everyMs: DAY, input: { batchSize: 10 } })).created,
  ).toBe(false);

  await triggerPruneSchedule(p.temporal, taskQueue);
  const action = await eventually(
    async () => (await describePruneSchedule(p.temporal, taskQueue))?.info.recentActions[0],
    30_000,
    'the triggered run',
  );
  const handle = p.temporal.workflow.getHandle(action.action.workflow.workflowId);
  expect((await handle.describe()).type).toBe(PRUNE_WORKFLOW);
  const report = (await handle.result()) as PruneReport;
  expect(report).toMatchObject({ dryRun: false, batchSize: 10, retentionMs: 30 * DAY });
  expect(report.deleted).toBeGreaterThanOrEqual(1);
  const ids = await remainingIds();
  expect(ids).toContain('scheduled-10d');
  expect(ids).not.toContain('scheduled-45d');

  expect(await removePruneSchedule(p.temporal, taskQueue)).toBe(true);
  expect(await describePruneSchedule(p.temporal, taskQueue)).toBeUndefined();
  expect(await removePruneSchedule(p.temporal, taskQueue)).toBe(false);
});
