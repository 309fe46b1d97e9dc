/**
 * Hands one event to Temporal: starts its processEvent workflow under the event's
 * dedup-key workflow ID. Temporal's workflow-ID uniqueness is the first dedup
 * layer: a second start of the same event is rejected while Temporal keeps the
 * first run (REJECT_DUPLICATE covers closed runs, FAIL covers a running one).
 */
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
} from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { IdemEventKey, IdemEventType, IdemSource } from '../workflows/search-attributes';
import { NonRetriableError } from '../errors';
import type { DlqReason, IdemEvent, RawMessage } from '../events/types';
import {
  PROCESS_EVENT_WORKFLOW,
  type ProcessEventInput,
  type RedriveInfo,
  type RetrySettings,
  type WorkflowShape,
} from '../workflows/types';

export interface StartResult {
  outcome: 'started' | 'duplicate';
  workflowId: string;
  /** Started eagerly: the server handed the first workflow task to this process's worker. */
  eager?: boolean;
  /** Resolves (or rejects) once the workflow has closed; only called when someone waits for it. */
  closed: () => Promise<unknown>;
}

/**
 * Temporal refuses a payload over 2 MiB (`limit.blobSize.error`); the start request carries the
 * workflow input as one JSON payload. Kept a little under it for the payload's metadata.
 */
export const MAX_WORKFLOW_INPUT_BYTES = 2 * 1024 * 1024 - 16 * 1024;

/** The size of the workflow input as Temporal counts it: the UTF-8 bytes of its JSON (the
 * event's value JSON-escaped inside it, with its key, headers and summary). */
export function workflowInputBytes(input: ProcessEventInput): number {
  return Buffer.byteLength(JSON.stringify(input), 'utf8');
}

/**
 * A start Temporal refused for this event and will refuse again (gRPC INVALID_ARGUMENT: the
 * input over the payload limit, a search attribute too long): the event is dead-lettered with
 * `reason` instead of being retried forever. Refusals that are not the event's (authentication,
 * a missing namespace, Temporal down) are retried.
 */
export class StartRejectedError extends NonRetriableError {
  constructor(
    readonly reason: DlqReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The StartRejectedError a failed start call means, or undefined when it may be retried. */
export function startRejection(err: unknown): StartRejectedError | undefined {
  if (err instanceof StartRejectedError) return err;
  const cause = (err as { cause?: { code?: unknown; details?: unknown } } | null)?.cause;
  if (!(err instanceof ServiceError) || cause?.code !== GRPC_INVALID_ARGUMENT) return undefined;
  const detail = typeof cause.details === 'string' ? cause.details : String(cause);
  return new StartRejectedError(
    /size exceeds limit|exceeds size limit/i.test(detail) && /blob/i.test(detail)
      ? 'too_large'
      : 'invalid_envelope',
    `Temporal refused to start the workflow: ${detail}`,
    { cause: err },
  );
}

const GRPC_INVALID_ARGUMENT = 3;

/** Keyword search attributes are limited in size; keys longer than this are cut for search only. */
const MAX_KEYWORD = 256;

export function searchAttributesFor(
  input: ProcessEventInput,
): TypedSearchAttributes | { key: unknown; value: unknown }[] {
  const pairs = [
    { key: IdemEventType, value: input.event.type.slice(0, MAX_KEYWORD) },
    { key: IdemSource, value: input.event.source.slice(0, MAX_KEYWORD) },
  ];
  if (input.event.key !== undefined)
    pairs.push({ key: IdemEventKey, value: input.event.key.slice(0, MAX_KEYWORD) });
  return pairs;
}

/** The workflow input of a parsed event. */
export function processEventInput(
  event: IdemEvent,
  message: RawMessage,
  opts: { retry: RetrySettings; shape: WorkflowShape; redrive?: RedriveInfo },
): ProcessEventInput {
  const { retry, shape, redrive } = opts;
  return {
    event: {
      id: event.id,
      source: event.source,
      type: event.type,
      ...(event.key !== undefined ? { key: event.key } : {}),
    },
    message,
    retry,
    shape,
    ...(redrive ? { redrive } : {}),
  };
}

export async function startEventWorkflow(
  client: Client,
  opts: {
    workflowId: string;
    taskQueue: string;
    input: ProcessEventInput;
    /** Ask for eager start: the server hands the first workflow task back with the start's
     * answer, to a worker in this process on the same connection (`idem consume`), saving a
     * matching round trip. Silently a normal start when no such worker has a free slot. */
    eager?: boolean;
  },
): Promise<StartResult> {
  const { workflowId, taskQueue, input } = opts;
  const closed = () => client.workflow.getHandle(workflowId).result();
  try {
    const handle = await client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      ...(opts.eager ? { requestEagerStart: true } : {}),
      typedSearchAttributes: searchAttributesFor(input) as never,
      memo: {
        kafka: {
          topic: input.message.topic,
          partition: input.message.partition,
          offset: input.message.offset,
        },
        ...(input.redrive ? { redrive: input.redrive } : {}),
      },
    });
    return { outcome: 'started', workflowId, closed, eager: handle.eagerlyStarted };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { outcome: 'duplicate', workflowId, closed };
    throw err;
  }
}
