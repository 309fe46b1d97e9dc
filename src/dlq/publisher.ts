/**
 * Writing to the dead-letter topic: records land there with the original key,
 * value and headers unchanged, plus the `idem-*` headers saying why. Keeping the
 * key keeps the record on the same dead-letter partition as its key's other records.
 *
 * Two writers share this: the ingester (records rejected before any workflow:
 * invalid envelope, too large, not UTF-8; no workflow ID) and the deadLetter
 * activity (events that failed processing).
 */
import { IdemError } from '../errors';
import { hasKafkaErrorType } from '../kafka/errors';
import { DLQ_HEADER_PREFIX, DLQ_HEADERS } from './headers';
import type { Producer } from 'kafkajs';

export interface DlqRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | Buffer>;
}

export interface DlqPublishResult {
  topic: string;
  partition: number;
  /** Offset of the record in the dead-letter topic, as a decimal string. */
  offset: string;
}

export interface DlqPublisher {
  /** Resolves once the record is durably written (all in-sync replicas). */
  publish(record: DlqRecord): Promise<DlqPublishResult>;
}

/**
 * A DlqPublisher on a kafkajs producer: one record per send, `acks: -1` (all
 * in-sync replicas), resolving with where it landed. The key goes through
 * unchanged, so the default partitioner puts it with its key's other records.
 *
 * A copy the broker refuses as too large (the original was near the topic's
 * `max.message.bytes`, and the copy adds idem's headers) would be retried forever and hold
 * its partition: it is published once more without the value and the original headers,
 * saying so in `idem-value-omitted` (the original stays readable at its coordinates while
 * the source topic retains it). Such a record cannot be redriven.
 */
export function createKafkaDlqPublisher(producer: Producer): DlqPublisher {
  const send = async (record: DlqRecord): Promise<DlqPublishResult> => {
    const [meta] = await producer.send({
      topic: record.topic,
      acks: -1,
      messages: [{ key: record.key, value: record.value, headers: record.headers }],
    });
    if (meta?.baseOffset === undefined) {
      throw new IdemError(`producing to ${record.topic} returned no offset`);
    }
    return { topic: meta.topicName, partition: meta.partition, offset: meta.baseOffset };
  };
  return {
    async publish(record) {
      try {
        return await send(record);
      } catch (err) {
        if (!hasKafkaErrorType(err, TOO_LARGE)) throw err;
        return send(withoutValue(record));
      }
    },
  };
}

/** The copy of a dead-letter record that the broker refused as too large. */
export function withoutValue(record: DlqRecord): DlqRecord {
  const headers: Record<string, string | Buffer> = {};
  for (const [name, value] of Object.entries(record.headers))
    if (name.startsWith(DLQ_HEADER_PREFIX)) headers[name] = value;
  const error = headers[DLQ_HEADERS.error];
  if (typeof error === 'string' && error.length > 200) headers[DLQ_HEADERS.error] = `${error.slice(0, 199)}…`;
  headers[DLQ_HEADERS.valueOmitted] =
    `the value (${record.value?.length ?? 0} bytes) and the original headers made this record too large ` +
    'for the dead-letter topic; read the original at idem-original-topic/partition/offset';
  return { topic: record.topic, key: record.key, value: null, headers };
}

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE']);
