/**
 * `idem audit`: reads a range of each topic back from Kafka and accounts for every offset (see
 * OffsetClass), then checks that no effect was applied twice (consistency.ts, and the handler
 * module's own checks).
 *
 * The order of the reads makes a live audit safe: the committed offsets first (every record
 * before them was handed off by then); then each batch's dedup rows, parked records and, for
 * events with neither, their workflows (a workflow found closed has its row read again, since it
 * may have committed meanwhile); the dead-letter topics last, so that a dead-lettering finished
 * before its offset was looked at is always found there.
 */
import type { Client } from '@temporalio/client';
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { Pool } from 'pg';
import type { HandlerAudit } from '../activities/handlers/audit';
import type { Config } from '../config';
import { readDlq, type DlqEntry } from '../dlq/reader';
import { dlqTopicFor } from '../dlq/topic';
import { prepareRecord } from '../ingest/prepare';
import { checkTopics } from '../kafka/preflight';
import { readRanges } from '../kafka/read-range';
import { findParkedEvents } from '../store/sql/find-parked-events';
import { findProcessed } from '../store/sql/find-processed';
import { serverTime } from '../store/sql/server-time';
import {
  classifyRecord,
  OPEN_STATUSES,
  resolvePending,
  rowCoords,
  type Pending,
  type RecordFacts,
} from './classify';
import { checkDeadLetterings } from './consistency';
import { buildDlqIndex } from './dlq-index';
import { DuplicateCauses, fingerprint } from './duplicates';
import { planTopic, type PartitionPlan } from './ranges';
import { Tally } from './tally';
import type { AuditReport, Coords, Verdict } from './types';
import { workflowStatuses } from './workflows';

export interface AuditProgress {
  phase: 'reading' | 'dead-letter topics' | 'checks';
  read: number;
  toRead: number;
  unaccounted: number;
}

export interface AuditOptions {
  /** Topics, consumer group and the parse settings (IDEM_MAX_EVENT_BYTES) come from it. */
  config: Config;
  kafka: Kafka;
  /** The store (DATABASE_URL); only read. */
  pool: Pool;
  temporal: Client;
  /** @default config.kafka.topics */
  topics?: string[];
  /** @default config.kafka.groupId */
  groupId?: string;
  /** From the first record at or after this time. @default the beginning */
  since?: Date;
  /** Read to the end instead of the committed offset. @default false */
  toEnd?: boolean;
  /** The handler module and its checks (HandlerModule.audit), if any. */
  handlers?: { name: string; audit?: HandlerAudit };
  /** How many unaccounted offsets and violations the report details. @default 20 */
  limit?: number;
  onProgress?: (p: AuditProgress) => void;
}

interface Seen {
  facts: RecordFacts;
  message: KafkaMessage;
}

export async function auditTopics(opts: AuditOptions): Promise<AuditReport> {
  const began = Date.now();
  const { config, kafka, pool, temporal } = opts;
  const topics = opts.topics ?? config.kafka.topics;
  const groupId = opts.groupId ?? config.kafka.groupId;
  const toEnd = opts.toEnd ?? false;
  await checkTopics(kafka, topics, true);
  const plans = await planAll(kafka, topics, groupId, { since: opts.since, toEnd });

  const tally = new Tally(opts.limit ?? 20);
  const duplicates = new DuplicateCauses();
  const pending: Pending[] = [];
  /** Events whose row and dead-letter records are compared at the end, with their record. */
  const suspects = new Map<string, Coords>();
  const progress = { read: 0, toRead: plans.reduce((n, p) => n + Number(p.end - p.start), 0) };
  const report = (phase: AuditProgress['phase']) =>
    opts.onProgress?.({ phase, ...progress, unaccounted: tally.total.unaccounted });
  for (const p of plans) {
    tally.partition(p.topic, p.partition);
    if (p.unread > 0n) tally.unread(p.topic, p.partition, Number(p.unread));
  }

  const settle = (s: Seen, v: Verdict) => {
    const { at, event } = s.facts;
    tally.add(at, v, event?.dedupKey);
    if (v.class === 'duplicate' && v.duplicateOf) duplicates.duplicate(v.duplicateOf, fingerprint(s.message));
    else if (v.class === 'applied' || v.class === 'parked') duplicates.original(at, fingerprint(s.message));
  };

  const classifyBatch = async (plan: PartitionPlan, messages: KafkaMessage[]) => {
    const seen = messages.map((m) => toSeen(config, plan, m));
    const keys = [...new Set(seen.flatMap((s) => (s.facts.event ? [s.facts.event.dedupKey] : [])))];
    const rows = await findProcessed(pool, keys);
    const parked = await findParkedEvents(
      pool,
      keys.filter((k) => !rows.has(k)),
    );
    for (const { facts } of seen) {
      const key = facts.event?.dedupKey;
      if (key === undefined) continue;
      const row = rows.get(key);
      const park = parked.get(key);
      if (row) facts.row = row;
      if (park) facts.parked = park;
    }
    let passes = seen.map((s) => classifyRecord(s.facts));
    const ask = [
      ...new Set(seen.flatMap((s, i) => ('needsWorkflow' in passes[i]! ? [s.facts.event!.dedupKey] : []))),
    ];
    if (ask.length > 0) {
      const statuses = await workflowStatuses(temporal, ask);
      // A workflow closed after its row was looked for: the row is there now.
      const late = await findProcessed(pool, ask);
      for (const { facts } of seen) {
        const key = facts.event?.dedupKey;
        if (key === undefined || !statuses.has(key)) continue;
        facts.workflow = statuses.get(key);
        const row = late.get(key);
        if (row) facts.row = row;
      }
      passes = seen.map((s) => classifyRecord(s.facts));
    }
    seen.forEach((s, i) => {
      const pass = passes[i]!;
      const row = s.facts.row;
      if (row && (row.status === 'dead_lettered' || row.deadLetteredCount > 0 || row.redriveCount > 0))
        suspects.set(row.dedupKey, rowCoords(row) ?? s.facts.at);
      if ('verdict' in pass) return settle(s, pass.verdict);
      if ('pending' in pass) {
        pending.push(pass.pending);
        if (pass.pending.kind === 'dead_lettered_row')
          duplicates.original(s.facts.at, fingerprint(s.message));
      }
    });
    await checkHandlerEvents(opts, tally, seen);
    progress.read += messages.length;
    report('reading');
  };

  for (const topic of topics) {
    const byPartition = new Map(plans.filter((p) => p.topic === topic).map((p) => [p.partition, p]));
    await readRanges(
      kafka,
      topic,
      [...byPartition.values()],
      (partition, messages) => classifyBatch(byPartition.get(partition)!, messages),
      { groupPrefix: 'idem-audit' },
    );
  }

  // Whether the runs that dead-lettered events were still running, asked before the dead-letter
  // topics are read: a run that closed published its record before it closed.
  report('dead-letter topics');
  const dlWorkflows = [
    ...new Set(
      pending.flatMap((p) => (p.kind === 'dead_lettered_row' && p.workflowId ? [p.workflowId] : [])),
    ),
  ];
  const statuses = await workflowStatuses(temporal, dlWorkflows);
  const running = (id: string) => OPEN_STATUSES.has(statuses.get(id) ?? '');
  const dlqReadFrom = await serverTime(pool);
  const entries: DlqEntry[] = [];
  for (const topic of topics) entries.push(...(await readDlq(kafka, dlqTopicFor(topic))));
  const dlq = buildDlqIndex(entries);
  for (const p of pending)
    tally.add(p.at, resolvePending(p, dlq, running), 'dedupKey' in p ? p.dedupKey : undefined);

  report('checks');
  for (const e of dlq.deadLetteredEvents()) if (e.at && inRange(plans, e.at)) suspects.set(e.dedupKey, e.at);
  // A row that changed since shortly before the dead-letter topics were read may have been
  // dead-lettered again meanwhile, its record read or not: it is not judged (a margin for the
  // statement's now(), taken when it began).
  const settledBefore = dlqReadFrom.getTime() - 10_000;
  const suspectKeys = [...suspects.keys()];
  for (let i = 0; i < suspectKeys.length; i += 1000) {
    const rows = await findProcessed(pool, suspectKeys.slice(i, i + 1000));
    for (const row of rows.values()) {
      if (row.processedAt.getTime() > settledBefore) continue;
      for (const v of checkDeadLetterings(row, dlq.deadLetterings(row.dedupKey)))
        tally.violation({ ...v, by: 'idem', at: suspects.get(row.dedupKey) ?? rowCoords(row) });
    }
  }
  const checkTables = opts.handlers?.audit?.checkTables;
  if (checkTables)
    for (const v of await checkTables(pool)) tally.violation({ ...v, by: opts.handlers?.name ?? 'handlers' });

  return {
    ok: tally.total.unaccounted === 0 && tally.total.doubleEffects === 0,
    groupId,
    topics,
    ...(opts.since ? { since: opts.since.toISOString() } : {}),
    toEnd,
    partitions: plans.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      start: String(p.start),
      end: String(p.end),
      ...(p.committed !== undefined ? { committed: String(p.committed) } : {}),
      high: String(p.high),
      ...tally.partition(p.topic, p.partition),
    })),
    total: tally.total,
    duplicateCauses: duplicates.causes(),
    unaccounted: tally.unaccounted,
    violations: tally.violations,
    handlerChecks: describeHandlerChecks(opts.handlers),
    elapsedMs: Date.now() - began,
  };
}

const inRange = (plans: PartitionPlan[], at: Coords) =>
  plans.some(
    (p) =>
      p.topic === at.topic &&
      p.partition === at.partition &&
      BigInt(at.offset) >= p.start &&
      BigInt(at.offset) < p.end,
  );

async function planAll(
  kafka: Kafka,
  topics: string[],
  groupId: string,
  opts: { since?: Date; toEnd: boolean },
): Promise<PartitionPlan[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const plans: PartitionPlan[] = [];
    for (const topic of topics) plans.push(...(await planTopic(admin, topic, groupId, opts)));
    return plans;
  } finally {
    await admin.disconnect();
  }
}

/** A record parsed exactly as the ingester parses it. */
function toSeen(config: Config, plan: PartitionPlan, m: KafkaMessage): Seen {
  const at = { topic: plan.topic, partition: plan.partition, offset: m.offset };
  const { parsed, workflowId } = prepareRecord(
    { ...at, timestamp: m.timestamp, key: m.key ?? null, value: m.value ?? null, headers: m.headers },
    { maxEventBytes: config.ingest.maxEventBytes, retry: config.retry, shape: config.workflow },
  );
  const consumed = plan.committed !== undefined && BigInt(m.offset) < plan.committed;
  const facts: RecordFacts = parsed.ok
    ? { at, consumed, event: { dedupKey: workflowId as string, type: parsed.event.type } }
    : { at, consumed, rejection: { reason: parsed.reason, error: parsed.error } };
  return { facts, message: m };
}

/** The handler module's checks of this batch's events, each event once. */
async function checkHandlerEvents(opts: AuditOptions, tally: Tally, seen: Seen[]): Promise<void> {
  const check = opts.handlers?.audit?.checkEvents;
  if (!check) return;
  const first = new Map<string, Seen>();
  for (const s of seen)
    if (s.facts.event && !first.has(s.facts.event.dedupKey)) first.set(s.facts.event.dedupKey, s);
  if (first.size === 0) return;
  const events = [...first.values()].map((s) => s.facts.event!);
  for (const v of await check(opts.pool, events))
    tally.violation({
      ...v,
      by: opts.handlers?.name ?? 'handlers',
      ...(v.dedupKey && first.has(v.dedupKey) ? { at: first.get(v.dedupKey)!.facts.at } : {}),
    });
}

function describeHandlerChecks(h: AuditOptions['handlers']): string {
  if (!h) return 'none: no handler module (--handlers or IDEM_HANDLERS)';
  const parts = [h.audit?.checkEvents && 'checkEvents', h.audit?.checkTables && 'checkTables'].filter(
    Boolean,
  );
  return parts.length ? `${h.name} (${parts.join(', ')})` : `none: ${h.name} exports no audit checks`;
}
