/**
 * What the ingester makes of one Kafka record before any I/O: the parse (an event, or the typed
 * reason it is rejected for), the event's workflow input and its dedup key. Pure, so that it can
 * be fuzzed as a whole (test/unit/envelope-fuzz.test.ts): whatever the record, it comes out as an
 * event or a typed rejection, never as an exception that would stop its partition.
 */
import type { Config } from '../config';
import { parseRecord, type KafkaRecord, type ParseResult } from '../events/envelope';
import { setOwn } from '../events/kafka-headers';
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

/**
 * The prepared record with its key, value and headers copied out of the fetch response, for a
 * record that is handed off: kafkajs' are slices of the whole response (up to a megabyte per
 * partition), which one record waiting for its key, or for its dead-letter publish, would keep
 * alive. Only records handed off are copied; a copy known at once is dropped with its fetch.
 */
export function owned(p: PreparedRecord): PreparedRecord {
  const { record } = p;
  return {
    ...p,
    record: {
      ...record,
      key: record.key && Buffer.from(record.key),
      value: record.value && Buffer.from(record.value),
      ...(record.headers ? { headers: ownHeaders(record.headers) } : {}),
    },
  };
}

/** Kafka headers with their values copied out of the fetch response. */
function ownHeaders(headers: NonNullable<KafkaRecord['headers']>): NonNullable<KafkaRecord['headers']> {
  const own = <T extends Buffer | string | undefined>(v: T): T =>
    (Buffer.isBuffer(v) ? Buffer.from(v) : v) as T;
  const out: NonNullable<KafkaRecord['headers']> = {};
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const v = headers[name];
    setOwn(out, name, Array.isArray(v) ? v.map(own) : own(v));
  }
  return out;
}

const byteLength = (b: Buffer | string | null | undefined) =>
  b === null || b === undefined ? 0 : typeof b === 'string' ? Buffer.byteLength(b) : b.length;

/** Bytes of a record's key, value and headers (header names included). */
export function recordBytes(record: Pick<KafkaRecord, 'key' | 'value' | 'headers'>): number {
  let n = byteLength(record.key) + byteLength(record.value);
  // Loops, not Object.entries and a array per header: this runs for every record read.
  const headers = record.headers;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    n += Buffer.byteLength(name);
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) n += byteLength(v);
    else n += byteLength(value);
  }
  return n;
}

/**
 * An upper bound on the workflow input's size for an event of this record, without serialising
 * the input: each byte of the record appears in the input at most twice (in the raw message, and
 * in the event summary taken from it), each time as at most 6 bytes of JSON (`\u0000`; base64 of
 * a binary header or key takes 4/3), beside fixed fields of well under 8 KiB. An input under it is
 * under Temporal's limit without being measured (test/unit/envelope-fuzz.test.ts checks the bound).
 */
export function inputBytesBound(
  record: Pick<KafkaRecord, 'topic' | 'key' | 'value' | 'headers'>,
  bytes = recordBytes(record),
): number {
  let values = 0;
  const headers = record.headers;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    values += Array.isArray(value) ? value.length : 1;
  }
  return 12 * (bytes + Buffer.byteLength(record.topic)) + 64 * values + 8192;
}

/**
 * Parses a record and builds its event's workflow input and dedup key. An event whose input
 * Temporal would refuse as too large is rejected here as `too_large`. Never throws.
 */
export function prepareRecord(
  record: KafkaRecord,
  opts: { maxEventBytes: number; retry: Config['retry']; shape: Config['workflow'] },
): PreparedRecord {
  const bytes = recordBytes(record);
  let parsed = parseRecord(record, { maxEventBytes: opts.maxEventBytes });
  let input: ProcessEventInput | undefined;
  if (parsed.ok) {
    input = processEventInput(parsed.event, parsed.raw, { retry: opts.retry, shape: opts.shape });
    // IDEM_MAX_EVENT_BYTES bounds the value; Temporal bounds the whole input, where the value is
    // JSON-escaped (a quote or a control character takes 2 to 6 bytes) beside its key and headers.
    // Serialising every input only to measure it cost 2 % of a duplicate stream's CPU: only an
    // input that might be too large is measured.
    const inputBytes =
      inputBytesBound(record, bytes) > MAX_WORKFLOW_INPUT_BYTES ? workflowInputBytes(input) : 0;
    if (inputBytes > MAX_WORKFLOW_INPUT_BYTES) {
      input = undefined;
      parsed = {
        ok: false,
        reason: 'too_large',
        error:
          `the workflow input would be ${inputBytes} bytes as Temporal counts them (the value JSON-escaped, ` +
          `with its key and headers); Temporal refuses payloads over 2 MiB`,
      };
    }
  }
  // THE DEDUP KEY: derived from (source, id) only; see src/events/identity.ts.
  const workflowId = parsed.ok ? workflowIdFor(parsed.event.source, parsed.event.id) : undefined;
  return { record, parsed, workflowId, input, bytes };
}
