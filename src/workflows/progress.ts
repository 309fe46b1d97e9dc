/**
 * What an event workflow shows operators in Temporal Web besides what it was started with, all
 * of it written only off the plain-success path, so an event applied at its first attempt adds no
 * history event and no command: IdemOutcome, and IdemStage, IdemAttempts, IdemErrorClass and the
 * memo's `lastError`. Each is upserted only when its value changes (a long outage upserts once,
 * not once per wait); a retry costs two history events (search attributes and memo).
 */
import { patched, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  IdemAttempts,
  IdemErrorClass,
  IdemOutcome,
  IdemStage,
  LAST_ERROR_MAX_CHARS,
  LAST_ERROR_MEMO,
  type LastError,
  type Outcome,
  type Stage,
} from './search-attributes';

/**
 * Gates IdemStage, IdemAttempts, IdemErrorClass and the memo's lastError: a workflow whose history
 * was written before they existed replays without them (its first such moment says so, and the
 * run keeps that answer), one that reaches them live records this patch's marker once and writes
 * them. IdemOutcome predates the patch and is written as before either way.
 */
export const STAGE_PATCH = 'idem-stage-search-attributes';

/** Keyword values are limited in size; an error's type name is short, a handler's may not be. */
const MAX_CLASS = 100;

export interface Progress {
  stage: Stage;
  /** Attempts that failed for the event's own reasons so far; absent: unchanged. */
  attempts?: number;
  /** The failure behind this stage, when there is one. */
  error?: Omit<LastError, 'at'>;
  /** IdemOutcome to write with it, in the same command. */
  outcome?: Outcome;
}

export interface ProgressRecorder {
  /** Writes IdemOutcome alone (the shape workflows have had since before IdemStage). */
  outcome(outcome: Outcome): void;
  /** Writes what changed of IdemStage, IdemAttempts, IdemErrorClass (and IdemOutcome when given)
   * in one upsert, and the memo's lastError when the error is a new one. */
  progress(p: Progress): void;
  /** IdemOutcome was written in this run, or inherited (a run continued as new in an outage). */
  outcomeSet(): boolean;
  /** IdemStage was written in this run, or inherited. */
  stageSet(): boolean;
}

export function progressRecorder(outcomeInherited: boolean): ProgressRecorder {
  // What the run starts with: its start's attributes and memo, which a run continued as new
  // inherits from the run before it.
  const info = workflowInfo();
  const shown: { stage?: string; attempts?: number; errorClass?: string; error?: LastError } = {
    stage: info.typedSearchAttributes.get(IdemStage),
    attempts: info.typedSearchAttributes.get(IdemAttempts),
    errorClass: info.typedSearchAttributes.get(IdemErrorClass),
    error: info.memo?.[LAST_ERROR_MEMO] as LastError | undefined,
  };
  let outcomeSet = outcomeInherited || info.typedSearchAttributes.get(IdemOutcome) !== undefined;
  let enabled: boolean | undefined;

  const writeOutcome = (outcome: Outcome) => {
    outcomeSet = true;
    upsertSearchAttributes([{ key: IdemOutcome, value: outcome }]);
  };

  return {
    outcome: writeOutcome,
    progress(p) {
      enabled ??= patched(STAGE_PATCH);
      if (!enabled) {
        if (p.outcome !== undefined) writeOutcome(p.outcome);
        return;
      }
      const errorClass = p.error?.class.slice(0, MAX_CLASS);
      const pairs: SearchAttributeUpdatePair[] = [];
      if (p.outcome !== undefined) pairs.push({ key: IdemOutcome, value: p.outcome });
      if (shown.stage !== p.stage) pairs.push({ key: IdemStage, value: p.stage });
      if (p.attempts !== undefined && shown.attempts !== p.attempts)
        pairs.push({ key: IdemAttempts, value: p.attempts });
      if (errorClass !== undefined && shown.errorClass !== errorClass)
        pairs.push({ key: IdemErrorClass, value: errorClass });
      if (pairs.length > 0) upsertSearchAttributes(pairs);
      if (p.outcome !== undefined) outcomeSet = true;
      shown.stage = p.stage;
      shown.attempts = p.attempts ?? shown.attempts;
      shown.errorClass = errorClass ?? shown.errorClass;

      if (p.error === undefined) return;
      const message =
        p.error.message.length > LAST_ERROR_MAX_CHARS
          ? `${p.error.message.slice(0, LAST_ERROR_MAX_CHARS - 1)}…`
          : p.error.message;
      const before = shown.error;
      if (
        before?.message === message &&
        before.class === errorClass &&
        before.reason === p.error.reason &&
        before.attempt === p.error.attempt
      )
        return;
      // Workflow time: the start of the workflow task that saw the failure (deterministic).
      shown.error = { ...p.error, class: errorClass ?? p.error.class, message, at: new Date().toISOString() };
      upsertMemo({ [LAST_ERROR_MEMO]: shown.error });
    },
    outcomeSet: () => outcomeSet,
    stageSet: () => shown.stage !== undefined,
  };
}
