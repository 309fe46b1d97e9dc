/**
 * The contract between the ingester, the processEvent workflow and its activities.
 * Types only: imported by deterministic workflow code.
 */
import type { DlqReason, RawMessage } from '../events/types';

/** What operators see of an event without parsing its payload. */
export interface EventSummary {
  id: string;
  source: string;
  type: string;
  key?: string;
}

export interface RetrySettings {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Start-to-close timeout of one applyEvent attempt; also how long a crashed worker's attempt takes to be retried. */
  attemptTimeoutMs?: number;
  /** Waits during one PostgreSQL outage (or for a held claim) before the run continues as new
   * (its history stays small however long the outage lasts). @default 50 */
  outageRoundsPerRun?: number;
}

/** Set when an operator redrives a dead-lettered record (`idem dlq redrive`). */
export interface RedriveInfo {
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: string;
  requestedAt: string;
}

export interface ProcessEventInput {
  event: EventSummary;
  /** The Kafka record as read: re-parsed by applyEvent, re-published unchanged on dead-lettering. */
  message: RawMessage;
  retry: RetrySettings;
  redrive?: RedriveInfo;
  /** Absent in workflows started before it existed: the defaults (local, no upsert). */
  shape?: WorkflowShape;
  /** Set on a run that an earlier run of this event continued as new during an outage: its
   * IdemOutcome says store_unavailable, which a success must overwrite. */
  continuedInOutage?: boolean;
}

/** Choices of the workflow's shape, from configuration (IDEM_APPLY_AS, IDEM_UPSERT_APPLIED). */
export interface WorkflowShape {
  /** applyEvent as a local activity (the default) or a regular one. */
  applyAs: 'local' | 'regular';
  /** Record IdemOutcome = "applied" on plain success too. */
  upsertApplied: boolean;
}

export type ProcessOutcome = 'applied' | 'duplicate';

export interface ProcessEventResult {
  outcome: ProcessOutcome;
  outboxCount: number;
}

export interface ApplyEventInput {
  message: RawMessage;
  /** Which attempt this is, when the workflow counts them (a local activity runs one attempt per
   * call; see processEvent). Absent: Temporal's own count (a regular activity). */
  attempt?: number;
  /** Allows an event recorded as dead-lettered to be applied (an operator's redrive). */
  redrive: boolean;
  /** This run is an operator's reset (Temporal Web, `temporal workflow reset`): it applies an
   * event without a row as a first run does, and one recorded as dead-lettered as a redrive does. */
  reset?: boolean;
  /** When this workflow run started (Temporal's record), for the schedule_to_start stage. */
  runStartedAtMs?: number;
}

export interface ApplyEventResult {
  outcome: ProcessOutcome;
  outboxCount: number;
}

/** Carried in the details of a failed applyEvent's ApplicationFailure. */
export interface ApplyFailureDetails {
  reason: DlqReason;
  attempt: number;
  /** PostgreSQL was unreachable: retry without dead-lettering (an outage is not the event's fault). */
  storeUnavailable?: boolean;
  /** Another attempt holds the event's claim (ClaimHeldError): wait and retry, no attempt counted. */
  claimHeld?: boolean;
}

export interface DeadLetterInput {
  event: EventSummary;
  message: RawMessage;
  reason: DlqReason;
  error: string;
  attempts: number;
}

export interface DeadLetterResult {
  topic: string;
  partition: number;
  offset: string;
}

/** Workflow type name, also used by the ingester's start call. */
export const PROCESS_EVENT_WORKFLOW = 'processEvent';

/** The worker's warm-up workflow (src/workflows/warm-up.ts). */
export const WARM_UP_WORKFLOW = 'idemWarmUp';

/** What a warm-up carries there and back: an event-sized argument, so its JSON has some weight. */
export interface WarmUpProbe {
  i: number;
  text: string;
}
