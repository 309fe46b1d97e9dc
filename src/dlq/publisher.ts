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
 */
export function createKafkaDlqPublisher(producer: Producer): DlqPublisher {
  return {
    async publish(record) {
      const [meta] = await producer.send({
        topic: record.topic,
        acks: -1,
        messages: [{ key: record.key, value: record.value, headers: record.headers }],
      });
      if (meta?.baseOffset === undefined) {
        throw new IdemError(`producing to ${record.topic} returned no offset`);
      }
      return { topic: meta.topicName, partition: meta.partition, offset: meta.baseOffset };
    },
  };
}
