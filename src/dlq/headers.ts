/**
 * The `idem-*` headers of a dead-lettered record: what idem writes beside the
 * original key, value and headers to say why the record landed there, and how
 * `idem dlq` and redrive read them back. Operators and tools rely on these names.
 */
import { firstHeaderValue, type KafkaHeaderValue } from '../events/kafka-headers';
import type { DlqReason } from '../events/types';

/** Header names; operators and `idem dlq` rely on them. */
export const DLQ_HEADERS = {
  reason: 'idem-reason',
  error: 'idem-error',
  attempts: 'idem-attempts',
  originalTopic: 'idem-original-topic',
  originalPartition: 'idem-original-partition',
  originalOffset: 'idem-original-offset',
  originalTimestamp: 'idem-original-timestamp',
  workflowId: 'idem-workflow-id',
  runId: 'idem-run-id',
  deadLetteredAt: 'idem-dead-lettered-at',
  cloudEventId: 'idem-event-id',
  eventSource: 'idem-event-source',
  eventType: 'idem-event-type',
  /** One dead-lettering: `ingest:<topic>:<partition>:<offset>` for a record rejected at ingest,
   * `run:<runId>` for an event a workflow run dead-lettered. Copies of one dead-lettering (a
   * publish retried, a record re-read after a rebalance) share it; `idem dlq` collapses them. */
  deadLetterId: 'idem-dead-letter-id',
  /** Set when the broker refused the full copy as too large: the value and original headers are left out. */
  valueOmitted: 'idem-value-omitted',
} as const;

/** Prefix of every header idem adds. */
export const DLQ_HEADER_PREFIX = 'idem-';

/** `idem-error` is cut to this many characters (Kafka headers are not the place for stack traces). */
export const MAX_DLQ_ERROR_LENGTH = 1000;

export interface DlqHeaderFields {
  reason: DlqReason;
  error: string;
  /** Processing attempts made; 0 for records rejected before any workflow. */
  attempts: number;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  /** Kafka timestamp of the original record (ms since the epoch, decimal string). */
  originalTimestamp?: string;
  workflowId?: string;
  runId?: string;
  /** @default now */
  deadLetteredAt?: Date;
  /** Set from the coordinates (ingest) or the run (a workflow) unless given. */
  deadLetterId?: string;
  /** The event's identity and type, when the envelope could be parsed (for redrive filters). */
  cloudEventId?: string;
  eventSource?: string;
  eventType?: string;
}

/** The `idem-*` headers of a dead-lettered record. Spread them after the original headers. */
export function dlqHeaders(f: DlqHeaderFields): Record<string, string> {
  const h: Record<string, string> = {
    [DLQ_HEADERS.reason]: f.reason,
    [DLQ_HEADERS.error]: truncate(f.error, MAX_DLQ_ERROR_LENGTH),
    [DLQ_HEADERS.attempts]: String(f.attempts),
    [DLQ_HEADERS.originalTopic]: f.originalTopic,
    [DLQ_HEADERS.originalPartition]: String(f.originalPartition),
    [DLQ_HEADERS.originalOffset]: f.originalOffset,
    [DLQ_HEADERS.deadLetteredAt]: (f.deadLetteredAt ?? new Date()).toISOString(),
    [DLQ_HEADERS.deadLetterId]: f.deadLetterId ?? deadLetterIdOf(f),
  };
  const optional: [string, string | undefined][] = [
    [DLQ_HEADERS.originalTimestamp, f.originalTimestamp],
    [DLQ_HEADERS.workflowId, f.workflowId],
    [DLQ_HEADERS.runId, f.runId],
    [DLQ_HEADERS.cloudEventId, f.cloudEventId],
    [DLQ_HEADERS.eventSource, f.eventSource],
    [DLQ_HEADERS.eventType, f.eventType],
  ];
  for (const [name, value] of optional) if (value !== undefined) h[name] = value;
  return h;
}

/** The id of one dead-lettering: its run's when a workflow dead-lettered it, else (rejected at
 * ingest, before any run) its record's coordinates. */
export function deadLetterIdOf(
  f: Pick<DlqHeaderFields, 'runId' | 'originalTopic' | 'originalPartition' | 'originalOffset'>,
): string {
  return f.runId !== undefined
    ? `run:${f.runId}`
    : `ingest:${f.originalTopic}:${f.originalPartition}:${f.originalOffset}`;
}

/**
 * The original headers without idem's own: a record that was dead-lettered
 * before (and redriven) carries stale `idem-*` headers that must not mix with the
 * new ones.
 */
export function withoutDlqHeaders<V>(headers: Record<string, V>): Record<string, V> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !name.toLowerCase().startsWith(DLQ_HEADER_PREFIX)),
  );
}

/** The headers read back: what the writer set, with the original coordinates optional
 * (records written by other tools may lack them) and the reason as any string. */
export type ReadDlqHeaders = Partial<Omit<DlqHeaderFields, 'reason' | 'error' | 'attempts'>> & {
  /** A DlqReason, or whatever a newer writer put there. */
  reason: string;
  error: string;
  /** NaN-free: 0 when missing or malformed. */
  attempts: number;
};

/** Parses the `idem-*` headers of a DLQ record back; undefined when it has no `idem-reason`. */
export function readDlqHeaders(
  headers: Record<string, KafkaHeaderValue> | undefined,
): ReadDlqHeaders | undefined {
  const text = (name: string): string | undefined => {
    const v = firstHeaderValue(headers?.[name]);
    return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : v;
  };
  const reason = text(DLQ_HEADERS.reason);
  if (reason === undefined) return undefined;
  const out: ReadDlqHeaders = {
    reason,
    error: text(DLQ_HEADERS.error) ?? '',
    attempts: toInt(text(DLQ_HEADERS.attempts)) ?? 0,
  };
  const partition = toInt(text(DLQ_HEADERS.originalPartition));
  if (partition !== undefined) out.originalPartition = partition;
  const at = text(DLQ_HEADERS.deadLetteredAt);
  if (at !== undefined && !Number.isNaN(Date.parse(at))) out.deadLetteredAt = new Date(at);
  const strings = [
    ['originalTopic', DLQ_HEADERS.originalTopic],
    ['originalOffset', DLQ_HEADERS.originalOffset],
    ['originalTimestamp', DLQ_HEADERS.originalTimestamp],
    ['workflowId', DLQ_HEADERS.workflowId],
    ['runId', DLQ_HEADERS.runId],
    ['cloudEventId', DLQ_HEADERS.cloudEventId],
    ['eventSource', DLQ_HEADERS.eventSource],
    ['eventType', DLQ_HEADERS.eventType],
    ['deadLetterId', DLQ_HEADERS.deadLetterId],
  ] as const;
  for (const [field, name] of strings) {
    const v = text(name);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  // Do not cut a surrogate pair in half: the header must stay valid UTF-8.
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

function toInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
