/**
 * What the ingester makes of one Kafka record before any I/O: the parse (an event, or the typed
 * reason it is rejected for), the event's workflow input and its dedup key. Pure, so that it can
 * be fuzzed as a whole (test/unit/envelope-fuzz.test.ts): whatever the record, it comes out as an
 * event or a typed rejection, never as an exception that would stop its partition.
 */
import type { KafkaMessage } from 'kafkajs';
import type { Config } from '../config';
import { parseRecord, type KafkaRecord, type ParseResult } from '../events/envelope';
import { workflowIdFor } from '../events/identity';
import { MAX_WORKFLOW_INPUT_BYTES, processEventInput, workflowInputBytes } from '../temporal/start-event';
import type { ProcessEventInput } from '../workflows/types';

/** A record parsed, with its event's dedup key when it is an event. */
export interface PreparedRecord {
  record: KafkaRecord;
  parsed: ParseResult;
  workflowId: string | undefined;
  /** The workflow input of an event that parsed (set whenever `parsed.ok`). */
  input: ProcessEventInput | undefined;
  /** Its size in memory as the window counts it: key, value and headers. */
  bytes: number;
}

/** Bytes of a record's key, value and headers. */
export function recordBytes(message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>): number {
  let n = (message.key?.length ?? 0) + (message.value?.length ?? 0);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    n += name.length;
    for (const v of Array.isArray(value) ? value : [value]) n += v?.length ?? 0;
  }
  return n;
}

/**
 * Parses a record and builds its event's workflow input and dedup key. An event whose input
 * Temporal would refuse as too large is rejected here as `too_large`. Never throws.
 */
export function prepareRecord(
  record: KafkaRecord,
  opts: { maxEventBytes: number; retry: Config['retry']; shape: Config['workflow'] },
): Omit<PreparedRecord, 'bytes'> {
  let parsed = parseRecord(record, { maxEventBytes: opts.maxEventBytes });
  let input: ProcessEventInput | undefined;
  if (parsed.ok) {
    input = processEventInput(parsed.event, parsed.raw, { retry: opts.retry, shape: opts.shape });
    // IDEM_MAX_EVENT_BYTES bounds the value; Temporal bounds the whole input, where the value is
    // JSON-escaped (a quote or a control character takes 2 to 6 bytes) beside its key and headers.
    const bytes = workflowInputBytes(input);
    if (bytes > MAX_WORKFLOW_INPUT_BYTES) {
      input = undefined;
      parsed = {
        ok: false,
        reason: 'too_large',
        error:
          `the workflow input would be ${bytes} bytes as Temporal counts them (the value JSON-escaped, ` +
          `with its key and headers); Temporal refuses payloads over 2 MiB`,
      };
    }
  }
  // THE DEDUP KEY: derived from (source, id) only; see src/events/identity.ts.
  const workflowId = parsed.ok ? workflowIdFor(parsed.event.source, parsed.event.id) : undefined;
  return { record, parsed, workflowId, input };
}
