/**
 * `idem inspect <event>`: everything idem knows about one event. The event is named by its
 * CloudEvents id (with `--source`; without it, the sources the store records for that id and the
 * configured topics, which are the default source of plain JSON events, are tried), or by a
 * workflow ID (`event:…`, `event-sha256:…`, or a redrive's `redrive:…`).
 *
 * Shown: the event workflow's status and a summary of its history (events by type, applyEvent's
 * attempts, the last failure, pending activities), its `processed_events` row, its records in the
 * dead-letter topic, and its Temporal Web link. Exit code 0 when something was found, 1 when
 * nothing was, 2 when it cannot run (a server that does not answer, a bad argument).
 */
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  decodeArrayFromPayloads,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import type { Command } from 'commander';
import type { Pool } from 'pg';
import { loadConfig, type Config } from '../config';
import { dedupKeyOf, readDlq, type DlqEntry } from '../dlq/reader';
import { dlqTopicFor } from '../dlq/topic';
import { UserError } from '../errors';
import { workflowIdFor } from '../events/identity';
import { escapeControls } from '../events/utf8';
import { formatDuration } from '../observability/duration';
import { redactSecrets } from '../observability/redact';
import { idemAttributesOf, workflowWebUrl, type IdemAttributes } from '../observability/stuck';
import { stageLine } from './stuck';
import { getProcessedEvent, type ProcessedEvent } from '../store/sql/get-processed-event';
import { LAST_ERROR_MEMO, type LastError } from '../workflows/search-attributes';
import type { ProcessEventInput } from '../workflows/types';
import {
  EXIT_ATTENTION,
  EXIT_CANNOT_RUN,
  EXIT_OK,
  oneLine,
  operatorKafka,
  operatorPool,
  operatorTemporal,
  runOperatorCommand,
  temporalDown,
} from './operator-clients';

interface InspectOpts {
  source?: string;
  json?: boolean;
}

/** The run's search attributes (IdemAttributes), then what its description and history say. */
export interface WorkflowSummary extends IdemAttributes {
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, TERMINATED, CANCELED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  startTime: string;
  closeTime?: string;
  /** Since the run started, up to now or its close. */
  ageMs: number;
  /** The memo's lastError, written with IdemStage. */
  lastError?: LastError;
  /** The Kafka coordinates (and redrive record) the ingester put in the memo, and lastError. */
  memo?: Record<string, unknown>;
  historyLength: number;
  /** History events by type, in order of first appearance. */
  events: Record<string, number>;
  /** applyEvent's attempts in this run (local activity markers, or a regular activity's attempt). */
  applyAttempts: number;
  /** The last failure recorded in the history (an attempt's, the run's). */
  lastFailure?: string;
  pendingActivities: { type: string; attempt: number; state: string; lastFailure?: string }[];
  webUrl: string;
}

export interface Inspection {
  /** The dedup key: the event workflow's ID and `processed_events.event_id`. */
  dedupKey: string;
  event?: { source: string; id: string; type?: string; key?: string };
  workflow?: WorkflowSummary;
  /** The store's row, or null when it has none. */
  row: ProcessedEvent | null;
  /** Its records in the dead-letter topic (copies of one dead-lettering collapsed). */
  deadLetters: DlqEntry[];
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      "one event: its workflow's status and history summary, its processed_events row, its dead-letter " +
        'records and its Temporal Web link; exit 0 when found, 1 when not, 2 when it cannot run',
    )
    .argument(
      '<event>',
      'the CloudEvents id of the event, or its workflow ID (event:…, event-sha256:…, redrive:…)',
    )
    .option(
      '--source <source>',
      "the event's CloudEvents source (default: the sources the store records for this id, and the topic names)",
    )
    .option('--json', 'the report as JSON on stdout')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN))
    .action((event: string, o: InspectOpts) => runOperatorCommand('inspect', () => inspect(event, o)));
}

const WORKFLOW_ID = /^(event:|event-sha256:|redrive:|redrive-sha256:)/;

async function inspect(arg: string, o: InspectOpts): Promise<number> {
  const config = loadConfig();
  const pool = operatorPool(config);
  const temporal = await operatorTemporal(config).catch((err: unknown) => {
    throw temporalDown(config, err);
  });
  try {
    await pool.query('select 1 from processed_events limit 0').catch((err: unknown) => {
      throw new UserError(
        `PostgreSQL at DATABASE_URL (${redactSecrets(config.database.url)}) did not answer, or has no ` +
          `processed_events table (${oneLine(err)}): check DATABASE_URL; for the local stack, idem stack status`,
      );
    });
    const found: Inspection[] = [];
    for (const workflowId of await candidates(arg, o.source, config, pool)) {
      const i = await inspectOne(workflowId, config, temporal.client, pool);
      if (i.workflow || i.row || i.deadLetters.length > 0) found.push(i);
    }
    if (o.json) console.log(JSON.stringify(found.map(inspectionJson), null, 2));
    else if (found.length === 0)
      console.log(
        `nothing known about ${escapeControls(JSON.stringify(arg))}: no event workflow, no processed_events row, ` +
          `no dead-letter record${WORKFLOW_ID.test(arg) || o.source ? '' : ' (name its source with --source, or give its workflow ID)'}`,
      );
    else console.log(found.map(formatInspection).join('\n\n'));
    return found.length > 0 ? EXIT_OK : EXIT_ATTENTION;
  } finally {
    await temporal.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}

/** The workflow IDs the argument may name. */
async function candidates(
  arg: string,
  source: string | undefined,
  config: Config,
  pool: Pool,
): Promise<string[]> {
  if (WORKFLOW_ID.test(arg)) return [arg];
  if (source !== undefined) return [workflowIdFor(source, arg)];
  // A scan of processed_events (its id column has no index): --source avoids it.
  const { rows } = await pool.query<{ event_id: string }>(
    'select event_id from processed_events where id = $1 order by processed_at desc limit 20',
    [arg],
  );
  return [
    ...new Set([...rows.map((r) => r.event_id), ...config.kafka.topics.map((t) => workflowIdFor(t, arg))]),
  ];
}

async function inspectOne(
  workflowId: string,
  config: Config,
  client: Client,
  pool: Pool,
): Promise<Inspection> {
  const wf = await workflowSummary(client, config, workflowId);
  const dedupKey = wf?.input ? workflowIdFor(wf.input.event.source, wf.input.event.id) : workflowId;
  const row = (await getProcessedEvent(pool, dedupKey)) ?? null;
  const event =
    wf?.input?.event ??
    (row
      ? { source: row.source, id: row.id, type: row.type, ...(row.eventKey ? { key: row.eventKey } : {}) }
      : undefined);
  const topics = [
    ...new Set([row?.kafkaTopic, wf?.input?.message.topic].filter((t): t is string => typeof t === 'string')),
  ];
  const deadLetters = await deadLettersOf(
    config,
    topics.length > 0 ? topics : config.kafka.topics,
    dedupKey,
    event?.id,
  );
  return {
    dedupKey,
    ...(event ? { event } : {}),
    ...(wf ? { workflow: wf.summary } : {}),
    row,
    deadLetters,
  };
}

/** The dead-letter records of one event, from the dead-letter topics of `topics`. */
async function deadLettersOf(
  config: Config,
  topics: string[],
  dedupKey: string,
  id: string | undefined,
): Promise<DlqEntry[]> {
  const kafka = await operatorKafka(config, 'idem-inspect');
  const out: DlqEntry[] = [];
  for (const topic of topics) {
    const entries = await readDlq(kafka, dlqTopicFor(topic), id === undefined ? {} : { id }).catch(
      (err: unknown) => {
        // A topic without its dead-letter topic has no records to show.
        if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return [];
        throw new UserError(`reading ${dlqTopicFor(topic)} failed (${oneLine(err)}): check KAFKA_BROKERS`);
      },
    );
    out.push(...entries.filter((e) => dedupKeyOf(e) === dedupKey || e.info.workflowId === dedupKey));
  }
  return out;
}

async function workflowSummary(
  client: Client,
  config: Config,
  workflowId: string,
): Promise<{ summary: WorkflowSummary; input?: ProcessEventInput } | undefined> {
  let d: WorkflowExecutionDescription;
  try {
    d = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw temporalDown(config, err);
  }
  const history = await client.workflow.getHandle(workflowId, d.runId).fetchHistory();
  const events = history.events ?? [];
  const converter = client.options.loadedDataConverter;
  const [input] = (await decodeArrayFromPayloads(
    converter,
    events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads,
  ).catch(() => [])) as [ProcessEventInput | undefined];

  const counts: Record<string, number> = {};
  let applyAttempts = 0;
  let lastFailure: temporal.api.failure.v1.IFailure | undefined;
  for (const e of events) {
    const name = eventTypeName(e.eventType);
    counts[name] = (counts[name] ?? 0) + 1;
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity' && localActivityType(marker) !== 'other')
      applyAttempts++;
    const started = e.activityTaskStartedEventAttributes;
    if (started) applyAttempts = Math.max(applyAttempts, started.attempt ?? 0);
    const failure =
      marker?.failure ??
      e.activityTaskFailedEventAttributes?.failure ??
      e.activityTaskTimedOutEventAttributes?.failure ??
      e.workflowTaskFailedEventAttributes?.failure ??
      e.workflowExecutionFailedEventAttributes?.failure;
    if (failure) lastFailure = failure;
  }
  const describeFailure = async (f: temporal.api.failure.v1.IFailure | null | undefined) => {
    if (!f) return undefined;
    const err = await decodeOptionalFailureToOptionalError(converter, f).catch(() => undefined);
    return failureLine(err, f.message);
  };
  const pendingActivities = [];
  for (const p of d.raw.pendingActivities ?? []) {
    const last = await describeFailure(p.lastFailure);
    pendingActivities.push({
      type: p.activityType?.name ?? '?',
      attempt: p.attempt ?? 0,
      state: String(temporal.api.enums.v1.PendingActivityState[p.state ?? 0] ?? p.state).replace(
        /^PENDING_ACTIVITY_STATE_/,
        '',
      ),
      ...(last ? { lastFailure: last } : {}),
    });
    if (p.activityType?.name === 'applyEvent') applyAttempts = Math.max(applyAttempts, p.attempt ?? 0);
  }
  const memoLastError = d.memo?.[LAST_ERROR_MEMO] as LastError | undefined;
  const last = await describeFailure(lastFailure);
  const end = d.closeTime?.getTime() ?? Date.now();
  const summary: WorkflowSummary = {
    workflowId,
    runId: d.runId,
    status: d.status.name,
    startTime: d.startTime.toISOString(),
    ...(d.closeTime ? { closeTime: d.closeTime.toISOString() } : {}),
    ageMs: Math.max(0, end - d.startTime.getTime()),
    ...idemAttributesOf(d.typedSearchAttributes),
    ...(memoLastError ? { lastError: memoLastError } : {}),
    ...(d.memo ? { memo: d.memo } : {}),
    historyLength: events.length,
    events: counts,
    applyAttempts,
    ...(last ? { lastFailure: last } : {}),
    pendingActivities,
    webUrl: workflowWebUrl(config.temporal.webUrl, config.temporal.namespace, workflowId, d.runId),
  };
  return { summary, ...(input?.event ? { input } : {}) };
}

/** `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED` → `WorkflowExecutionStarted`. */
function eventTypeName(t: temporal.api.enums.v1.EventType | null | undefined): string {
  const name = temporal.api.enums.v1.EventType[t ?? 0] ?? String(t);
  return name
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _s: string, c: string) => c.toUpperCase());
}

/** The activity type a local activity marker records (its `data` detail is JSON written by the
 * SDK's core); 'applyEvent' when it cannot be read, since the event workflow runs no other. */
function localActivityType(marker: temporal.api.history.v1.IMarkerRecordedEventAttributes): string {
  const data = marker.details?.data?.payloads?.[0]?.data;
  if (!data) return 'applyEvent';
  try {
    const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string };
    return parsed.activity_type === undefined || parsed.activity_type === 'applyEvent'
      ? 'applyEvent'
      : 'other';
  } catch {
    return 'applyEvent';
  }
}

/** For --json: a dead-letter record's key and value as text (as `idem dlq list --json`). */
function inspectionJson(i: Inspection): unknown {
  return {
    ...i,
    deadLetters: i.deadLetters.map((e) => ({
      ...e,
      key: e.key?.toString(),
      value: e.value?.toString(),
      headers: undefined,
    })),
  };
}

/** One inspection for a terminal; what it quotes from the event and its errors is escaped. */
export function formatInspection(i: Inspection): string {
  const t = escapeControls;
  const out: string[] = [`Event ${t(i.dedupKey)}`];
  if (i.event)
    out.push(
      `  source ${t(i.event.source)}  id ${t(i.event.id)}  type ${t(i.event.type ?? '-')}  key ${i.event.key === undefined ? '-' : t(JSON.stringify(i.event.key))}`,
    );
  const w = i.workflow;
  out.push('', 'Temporal workflow');
  if (!w) out.push('  none: Temporal does not have it (never started, or past the namespace retention)');
  else {
    const timing =
      w.status === 'RUNNING'
        ? `running for ${formatDuration(w.ageMs)} (started ${w.startTime})`
        : `started ${w.startTime}, closed ${w.closeTime ?? '?'} after ${formatDuration(w.ageMs)}`;
    out.push(
      `  ${t(w.workflowId)} run ${w.runId}`,
      `  status      ${w.status}, ${timing}`,
      `  outcome     ${t(w.outcome ?? (w.status === 'COMPLETED' ? 'none recorded (applied)' : '-'))}`,
      `  ${w.stage === undefined ? 'stage       none recorded (no attempt failed or waited)' : stageLine(w).replace(/^stage /, 'stage       ')}`,
      `  history     ${w.historyLength} event(s): ${Object.entries(w.events)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
      `  attempts    ${w.applyAttempts} of applyEvent ended in this run` +
        (w.status === 'RUNNING' ? ' (an attempt in progress is recorded when it ends)' : ''),
    );
    if (w.lastError)
      out.push(
        `  last error  ${t(w.lastError.message)} (attempt ${w.lastError.attempt}, ${t(w.lastError.reason)}, at ${t(w.lastError.at)})`,
      );
    if (w.lastFailure) out.push(`  last failure ${t(w.lastFailure.slice(0, 500))}`);
    for (const p of w.pendingActivities)
      out.push(
        `  pending     ${t(p.type)} attempt ${p.attempt}, ${p.state}${p.lastFailure ? `; last failure ${t(p.lastFailure.slice(0, 300))}` : ''}`,
      );
    if (w.memo) {
      // lastError has its line above.
      const { [LAST_ERROR_MEMO]: _shown, ...memo } = w.memo;
      out.push(`  memo        ${t(JSON.stringify(memo))}`);
    }
    out.push(`  web         ${w.webUrl}`);
  }
  out.push('', 'Store (processed_events)');
  const r = i.row;
  if (!r) out.push('  no row: the event was neither applied nor dead-lettered (yet)');
  else {
    out.push(
      `  status ${r.status}, attempts ${r.attempts}, first seen ${r.firstSeenAt.toISOString()}, last change ${r.processedAt.toISOString()}`,
      `  from ${t(r.kafkaTopic ?? '?')}[${r.kafkaPartition ?? '?'}]@${r.kafkaOffset ?? '?'}, workflow ${t(r.workflowId ?? '-')} run ${r.runId ?? '-'}`,
    );
    if (r.deadLetteredCount > 0 || r.redriveCount > 0)
      out.push(`  dead-lettered ${r.deadLetteredCount} time(s), redriven ${r.redriveCount} time(s)`);
    if (r.lastError)
      out.push(
        `  last error (${t(r.lastReason ?? '?')}): ${t(r.lastError.slice(0, 500).replace(/\s+/g, ' '))}`,
      );
  }
  out.push('', 'Dead-letter topic');
  if (i.deadLetters.length === 0) out.push('  no record');
  for (const e of i.deadLetters)
    out.push(
      `  ${e.timestamp.toISOString()}  ${t(e.dlqTopic)}[${e.dlqPartition}]@${e.dlqOffset}  ${t(e.info.reason)}  attempts=${e.info.attempts}` +
        `${e.copies > 1 ? `  (${e.copies} copies)` : ''}\n    ${t(e.info.error.slice(0, 300).replace(/\s+/g, ' '))}`,
    );
  return out.join('\n');
}

/**
 * One line for a failure in the history: its type and message, then its cause's message unless the
 * message already says it (a handler's error reaches the history as an ApplicationFailure with the
 * same message, the handler's error as its cause). `rawMessage`: the failure's own message, for a
 * failure that could not be decoded.
 */
export function failureLine(err: Error | undefined, rawMessage: string | null | undefined): string {
  const message = err?.message ?? rawMessage ?? '';
  const causeMessage = err?.cause instanceof Error ? err.cause.message : undefined;
  const cause = causeMessage && !message.includes(causeMessage) ? `: ${causeMessage}` : '';
  return `${err?.name ?? 'Failure'}: ${message}${cause}`;
}
