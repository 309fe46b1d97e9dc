/**
 * applyEvent: the event's side effects, exactly once, in one PostgreSQL
 * transaction with its dedup record.
 *
 *   begin; claimEvent     -- one message; duplicate? roll back, return 'duplicate'
 *   handler(tx, data)     -- the event type's side effects; emit buffers outbox rows
 *   insert outbox; commit -- one message: effects, dedup record and outbox rows together
 *
 * idem's own statements share the messages of BEGIN and COMMIT, so a handler with two
 * statements costs four round trips to PostgreSQL, not six (docs/performance.md).
 * The claim comes first, before the handler lookup and payload validation, so a
 * duplicate is always a duplicate: an event applied before its type lost its
 * handler, or before its schema got stricter, is skipped rather than failed.
 */
import { Context } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';

import { ClaimHeldError, InvalidEnvelopeError, UnknownEventTypeError } from '../errors';
import { parseRawMessage } from '../events/envelope';
import { dedupKeyFor } from '../events/identity';
import type { IdemEvent } from '../events/types';
import type { Stage } from '../observability/metrics';
import { claimEvent } from '../store/sql/claim-event';
import { insertOutboxSql, outboxValues } from '../store/sql/insert-outbox';
import { inTransaction, rollback, type TransactionOptions } from '../store/transaction';
import type { ApplyEventInput, ApplyEventResult } from '../workflows/types';
import { toApplicationFailure } from './failure';
import type { HandlerContext, HandlerRegistry, OutgoingEvent } from './handlers/registry';

/** Optional counters and histograms; prom-client's fit. */
export interface ApplyEventMetrics {
  applied?: { inc(labels: { type: string }): void };
  duplicates?: { inc(labels: { layer: string }): void };
  /** `schedule_to_start` and `apply` (src/observability/metrics.ts STAGES), in seconds. */
  stageSeconds?: { observe(labels: { stage: Stage }, seconds: number): void };
  /** Kafka record timestamp to committed effect, in seconds. */
  eventLatency?: { observe(seconds: number): void };
}

export interface ApplyEventDeps {
  pool: Pool;
  registry: HandlerRegistry;
  /** The ingester's limit (`IDEM_MAX_EVENT_BYTES`): both sides must agree on what parses. */
  maxEventBytes: number;
  /** Topic of outbox events that name none (`IDEM_OUTBOX_TOPIC`). */
  outboxTopic: string;
  /** CloudEvents `source` of outbox events that name none. @default idem */
  outboxSource?: string;
  metrics?: ApplyEventMetrics;
  /** Told of each event this worker settles, once committed (`idem consume`'s own ingester). */
  settled?: (dedupKey: string, as: 'applied' | 'dead_lettered') => void;
}

export const DEFAULT_OUTBOX_SOURCE = 'idem';

export function createApplyEvent(
  deps: ApplyEventDeps,
): (input: ApplyEventInput) => Promise<ApplyEventResult> {
  return async function applyEvent(input) {
    const began = Date.now();
    const { info } = Context.current();
    const attempt = input.attempt ?? info.attempt;
    if (attempt === 1 && input.runStartedAtMs !== undefined)
      deps.metrics?.stageSeconds?.observe(
        { stage: 'schedule_to_start' },
        (began - input.runStartedAtMs) / 1000,
      );
    const parsed = parseRawMessage(input.message, { maxEventBytes: deps.maxEventBytes });
    if (!parsed.ok) {
      // The ingester parsed this record before starting the workflow; failing here
      // means the configurations differ (e.g. IDEM_MAX_EVENT_BYTES) or the record
      // came from a redrive. Keep the parser's own reason (too_large, ...).
      throw toApplicationFailure(new InvalidEnvelopeError(parsed.error), attempt, parsed.reason);
    }
    try {
      return await applyParsed(deps, parsed.event, input, { info, attempt }, began);
    } catch (err) {
      throw toApplicationFailure(err, attempt);
    }
  };
}

async function applyParsed(
  deps: ApplyEventDeps,
  event: IdemEvent,
  input: ApplyEventInput,
  { info, attempt }: { info: Context['info']; attempt: number },
  began: number,
): Promise<ApplyEventResult> {
  // THE DEDUP KEY (src/events/identity.ts): processed_events.event_id, the same string as the
  // event's workflow ID.
  const dedupKey = dedupKeyFor(event.source, event.id);
  let outbox: ReturnType<typeof outboxWriter> | undefined;
  const result = await inTransaction<ApplyEventResult>(
    deps.pool,
    async (client) => {
      // The claim is the transaction's first statement and opens it (in BEGIN's message).
      const claim = await claimOrWait(client, {
        dedupKey,
        source: event.source,
        id: event.id,
        type: event.type,
        eventKey: event.key ?? null,
        attempt,
        workflowId: info.workflowExecution?.workflowId ?? null,
        runId: info.workflowExecution?.runId ?? null,
        kafkaTopic: input.message.topic,
        kafkaPartition: input.message.partition,
        kafkaOffset: input.message.offset,
        redrive: input.redrive,
        reset: input.reset === true,
      });
      if (!claim.claimed) {
        if (claim.noRecord)
          Context.current().log.warn(
            'redrive found no record of the event in the store (pruned, or never dead-lettered): nothing applied; ' +
              'if it was never applied, publish it again at its source',
            { dedupKey },
          );
        return rollback<ApplyEventResult>({ outcome: 'duplicate', outboxCount: 0 });
      }

      const handler = deps.registry.get(event.type);
      if (!handler) {
        const known = deps.registry.types();
        throw new UnknownEventTypeError(
          `no handler is registered for event type "${event.type}"` +
            (known.length > 0 ? ` (registered: ${known.join(', ')})` : ' (no handlers are registered)'),
        );
      }

      outbox = outboxWriter(deps, dedupKey);
      const ctx: HandlerContext = {
        tx: client,
        event,
        dedupKey,
        attempt,
        // an operator's reset re-processes the event as a redrive does
        redrive: input.redrive || input.reset === true,
        emit: outbox.emit,
      };
      await handler.run(ctx);
      outbox.close();
      return { outcome: 'applied', outboxCount: outbox.count() };
    },
    {
      ...attemptDeadline(info, began),
      begunByFirstStatement: true,
      // The handler's outbox rows go in COMMIT's message.
      beforeCommit: () => outbox?.sql(),
    },
  );
  // Counted once the transaction has ended.
  if (result.outcome === 'applied') {
    deps.settled?.(dedupKey, 'applied');
    const now = Date.now();
    deps.metrics?.applied?.inc({ type: event.type });
    deps.metrics?.stageSeconds?.observe({ stage: 'apply' }, (now - began) / 1000);
    const emitted = Number(input.message.timestamp);
    if (Number.isFinite(emitted) && emitted > 0) deps.metrics?.eventLatency?.observe((now - emitted) / 1000);
  } else deps.metrics?.duplicates?.inc({ layer: 'store' });
  return result;
}

/**
 * When this attempt must be done with PostgreSQL: its start-to-close timeout less a margin (a
 * fifth, at most 3 s), half of which a probe may take. PostgreSQL still silent then is an outage
 * (inTransaction), so the attempt fails as the store's before Temporal times it out as the
 * handler's.
 */
function attemptDeadline(info: Context['info'], began: number): TransactionOptions {
  const timeout = info.startToCloseTimeoutMs;
  if (!timeout || !Number.isFinite(timeout)) return {};
  const margin = Math.min(3_000, Math.floor(timeout / 5));
  return { deadline: began + timeout - margin, probeMs: Math.floor(margin / 2) };
}

/**
 * claimEvent, with a wait for the claim that ends in lock_timeout (SQLSTATE 55P03) told apart: the
 * claim's row is held by another attempt's open transaction (ClaimHeldError), which is no fault of
 * the event's. Before, a worker frozen mid-attempt (SIGSTOP, a long GC pause, a VM stall) held the
 * row while the workflow's attempts on another worker timed out on it one after the other, and a
 * healthy event was dead-lettered as handler_failed.
 */
async function claimOrWait(client: PoolClient, row: Parameters<typeof claimEvent>[1]) {
  try {
    return await claimEvent(client, row, { begin: true });
  } catch (err) {
    if ((err as { code?: unknown }).code !== '55P03') throw err;
    throw new ClaimHeldError(
      `another attempt at this event holds its claim in an open transaction (${(err as Error).message}); ` +
        'waiting for it to commit or end',
      { cause: err },
    );
  }
}

/**
 * The handler's `emit`: each row is checked and rendered when emitted (so a row that cannot be
 * stored fails its emit, as a direct insert did), and all are written in one statement sent with
 * the transaction's COMMIT, one round trip for the lot instead of one per row.
 */
function outboxWriter(deps: ApplyEventDeps, dedupKey: string) {
  const values: string[] = [];
  let closed = false;
  return {
    // async: a row that cannot be stored rejects the handler's await, as a direct insert did.
    async emit(out: OutgoingEvent): Promise<void> {
      if (closed) throw new Error('emit() was called after the handler returned; await every emit()');
      if (typeof out.type !== 'string' || out.type === '') {
        throw new TypeError('emit(): type must be a non-empty string');
      }
      values.push(
        outboxValues({
          topic: out.topic ?? deps.outboxTopic,
          messageKey: out.key ?? null,
          type: out.type,
          source: out.source ?? deps.outboxSource ?? DEFAULT_OUTBOX_SOURCE,
          subject: out.subject ?? null,
          data: out.data,
          causedBy: dedupKey,
        }),
      );
    },
    close(): void {
      closed = true;
    },
    count: () => values.length,
    sql: () => insertOutboxSql(values),
  };
}
