/**
 * Redrive: an operator's explicit decision to process dead-lettered events again.
 * Each selected dead-letter record starts a processEvent workflow under a derived
 * redrive workflow ID (one per dead-letter record, so redriving the same record
 * twice is rejected by Temporal), flagged as a redrive so the store lets an event
 * recorded as dead-lettered be applied. An event already applied stays untouched:
 * the store's claim returns `duplicate`, so a redrive never applies anything twice.
 */
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { Config } from '../config';
import { parseRecord } from '../events/envelope';
import { redriveWorkflowIdFor, workflowIdFor } from '../events/identity';
import type { IdemEvent, RawMessage } from '../events/types';
import type { Tracing } from '../observability/tracing-start';
import { processEventInput, startEventWorkflow } from '../temporal/start-event';
import type { ProcessEventResult } from '../workflows/types';
import { withoutDlqHeaders } from './headers';
import type { DlqEntry } from './reader';

/** Reasons found before any workflow ran are properties of the record's bytes:
 * processing it again fails the same way, so they are not redriven. */
export const REDRIVABLE_REASONS = new Set([
  'unknown_type',
  'invalid_payload',
  'handler_failed',
  'cancelled',
  'terminated',
]);

export type RedriveStatus =
  | 'started'
  | 'already_redriven'
  | 'not_redrivable'
  | 'would_start'
  | 'applied'
  | 'duplicate'
  | 'failed_again';

export interface RedriveItem {
  entry: DlqEntry;
  status: RedriveStatus;
  workflowId?: string;
  detail?: string;
}

export async function redrive(
  client: Client,
  config: Config,
  entries: DlqEntry[],
  opts: {
    dryRun?: boolean;
    wait?: boolean;
    onItem?: (item: RedriveItem) => void;
    /** With tracing: each start in a `redrive <dlq topic>` span, a child of the trace context the
     * record carries (the original event's, kept by the dead-letter copy). */
    tracing?: Tracing;
  },
): Promise<RedriveItem[]> {
  const items: RedriveItem[] = [];
  const requestedAt = new Date().toISOString();
  for (const entry of entries) {
    const item = await redriveOne(client, config, entry, requestedAt, opts);
    items.push(item);
    opts.onItem?.(item);
  }
  return items;
}

/** What redriving one entry would do, decided from the entry alone (no I/O): either it is
 * not redrivable (and why), or the event to process again under its redrive workflow ID. */
export type RedrivePlan =
  | { redrivable: false; item: RedriveItem & { status: 'not_redrivable' } }
  | { redrivable: true; event: IdemEvent; raw: RawMessage; workflowId: string };

export function planRedrive(entry: DlqEntry, opts: { maxEventBytes: number }): RedrivePlan {
  const notRedrivable = (detail: string): RedrivePlan => ({
    redrivable: false,
    item: { entry, status: 'not_redrivable', detail },
  });
  const { info } = entry;
  if (!REDRIVABLE_REASONS.has(info.reason)) {
    return notRedrivable(`${info.reason}: the record itself is bad; fix and re-publish it at the source`);
  }
  if (!entry.value || !info.originalTopic || info.originalPartition === undefined || !info.originalOffset) {
    return notRedrivable('dead-letter record lacks its original value or coordinates');
  }
  const parsed = parseRecord(
    {
      topic: info.originalTopic,
      partition: info.originalPartition,
      offset: info.originalOffset,
      timestamp: info.originalTimestamp ?? String(entry.timestamp.getTime()),
      key: entry.key,
      value: entry.value,
      headers: withoutDlqHeaders(entry.headers),
    },
    { maxEventBytes: opts.maxEventBytes },
  );
  if (!parsed.ok) return notRedrivable(`${parsed.reason}: ${parsed.error}`);
  const { event, raw } = parsed;
  const workflowId = redriveWorkflowIdFor(
    workflowIdFor(event.source, event.id),
    entry.dlqPartition,
    entry.dlqOffset,
  );
  return { redrivable: true, event, raw, workflowId };
}

async function redriveOne(
  client: Client,
  config: Config,
  entry: DlqEntry,
  requestedAt: string,
  opts: { dryRun?: boolean; wait?: boolean; tracing?: Tracing },
): Promise<RedriveItem> {
  const plan = planRedrive(entry, { maxEventBytes: config.ingest.maxEventBytes });
  if (!plan.redrivable) return plan.item;
  const { event, raw, workflowId } = plan;
  if (opts.dryRun) return { entry, status: 'would_start', workflowId };
  const input = processEventInput(event, raw, {
    retry: config.retry,
    shape: config.workflow,
    redrive: {
      dlqTopic: entry.dlqTopic,
      dlqPartition: entry.dlqPartition,
      dlqOffset: entry.dlqOffset,
      requestedAt,
    },
  });
  const start = () => startEventWorkflow(client, { workflowId, taskQueue: config.temporal.taskQueue, input });
  const started = opts.tracing
    ? await opts.tracing.inRecordSpan(
        `redrive ${entry.dlqTopic}`,
        raw,
        {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': entry.dlqTopic,
          'messaging.destination.partition.id': String(entry.dlqPartition),
          'messaging.kafka.offset': Number(entry.dlqOffset),
          'cloudevents.event_id': event.id,
          'cloudevents.event_source': event.source,
          'cloudevents.event_type': event.type,
          'idem.workflow_id': workflowId,
        },
        async (span) => {
          const result = await start();
          span.setAttribute('idem.start.outcome', result.outcome);
          return result;
        },
      )
    : await start();
  if (started.outcome === 'duplicate') return { entry, status: 'already_redriven', workflowId };
  if (!opts.wait) return { entry, status: 'started', workflowId };
  try {
    const result = (await client.workflow.getHandle(workflowId).result()) as ProcessEventResult;
    return { entry, status: result.outcome, workflowId };
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      return { entry, status: 'failed_again', workflowId, detail: err.cause?.message ?? err.message };
    throw err;
  }
}
