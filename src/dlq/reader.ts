/**
 * Reads a dead-letter topic from its beginning to its current end (for
 * `idem dlq list` and `idem dlq redrive`), with a throwaway consumer group that is
 * deleted afterwards. Nothing is committed for the real consumer group.
 */
import type { Kafka } from 'kafkajs';
import { InvalidArgumentError } from '../errors';
import { workflowIdFor } from '../events/identity';
import { flattenHeaders } from '../events/kafka-headers';
import { readToEnd } from '../kafka/read-to-end';
import { readDlqHeaders, type ReadDlqHeaders } from './headers';

export interface DlqEntry {
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: string;
  /** When the record was written to the dead-letter topic. */
  timestamp: Date;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string>;
  info: ReadDlqHeaders;
  /** Records of the same dead-lettering (`idem-dead-letter-id`) read as this one; 1 when alone. */
  copies: number;
}

/**
 * One entry per dead-lettering: copies (a publish retried after a lost ack, an ingest rejection
 * re-read after a rebalance) collapse into the earliest, which counts them. Records written
 * before the id existed stay apart.
 */
export function collapseCopies(entries: DlqEntry[]): DlqEntry[] {
  const first = new Map<string, DlqEntry>();
  const out: DlqEntry[] = [];
  for (const e of entries) {
    const id = e.info.deadLetterId;
    const kept = id === undefined ? undefined : first.get(`${e.dlqTopic}|${id}`);
    if (kept) {
      kept.copies++;
      continue;
    }
    if (id !== undefined) first.set(`${e.dlqTopic}|${id}`, e);
    out.push(e);
  }
  return out;
}

/** The dedup key of the record's event, from its `idem-event-source` and `idem-event-id`
 * headers; undefined for a record rejected at ingest (no event identity). */
export function dedupKeyOf(entry: DlqEntry): string | undefined {
  const { eventSource, cloudEventId } = entry.info;
  return eventSource !== undefined && cloudEventId !== undefined
    ? workflowIdFor(eventSource, cloudEventId)
    : undefined;
}

export interface DlqFilter {
  /** The event's id (CloudEvents `id`). */
  id?: string;
  reason?: string;
  type?: string;
  since?: Date;
  limit?: number;
}

export function matches(entry: DlqEntry, f: DlqFilter): boolean {
  if (f.id && entry.info.cloudEventId !== f.id) return false;
  if (f.reason && entry.info.reason !== f.reason) return false;
  if (f.type && entry.info.eventType !== f.type) return false;
  if (f.since && entry.timestamp < f.since) return false;
  return true;
}

/** Parses `--since`: an ISO time, or a duration back from now such as 30m, 2h, 7d. */
export function parseSince(text: string, now = Date.now()): Date {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (m) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new InvalidArgumentError(
      `--since ${JSON.stringify(text)}: expected an ISO time (2026-11-22T10:00:00Z) or a duration (30m, 2h, 7d)`,
    );
  return new Date(t);
}

export async function readDlq(kafka: Kafka, dlqTopic: string, filter: DlqFilter = {}): Promise<DlqEntry[]> {
  const out: DlqEntry[] = [];
  await readToEnd(
    kafka,
    dlqTopic,
    (partition, message) => {
      const info = readDlqHeaders(message.headers);
      if (!info) return;
      const entry: DlqEntry = {
        dlqTopic,
        dlqPartition: partition,
        dlqOffset: message.offset,
        timestamp: new Date(Number(message.timestamp)),
        key: message.key ?? null,
        value: message.value ?? null,
        headers: flattenHeaders(message.headers),
        info,
        copies: 1,
      };
      if (matches(entry, filter)) out.push(entry);
    },
    { groupPrefix: 'idem-dlq-reader' },
  );
  out.sort(
    (a, b) =>
      a.timestamp.getTime() - b.timestamp.getTime() ||
      a.dlqPartition - b.dlqPartition ||
      Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)),
  );
  const unique = collapseCopies(out);
  return filter.limit ? unique.slice(0, filter.limit) : unique;
}
