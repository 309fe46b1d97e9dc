/**
 * The lossless {@link RawMessage} form of a Kafka record that travels through
 * Temporal, and the way back to the record's exact bytes. Keys and header values
 * may be any bytes: valid UTF-8 travels as text, anything else as base64.
 */
import { flattenHeaders, setOwn, type KafkaHeaderValue } from './kafka-headers';
import type { EncodedBytes, RawMessage } from './types';
import { decodeUtf8 } from './utf8';

/** A record as read by kafkajs (`EachMessagePayload.message`) plus its topic and partition. */
export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, KafkaHeaderValue>;
}

/** Bytes as `{utf8}` when they are valid UTF-8, else as `{base64}`; lossless either way. */
export function encodeBytes(bytes: Buffer | string): EncodedBytes {
  if (typeof bytes === 'string') return { utf8: bytes };
  const text = decodeUtf8(bytes);
  return text === undefined ? { base64: bytes.toString('base64') } : { utf8: text };
}

/** The exact bytes behind an {@link EncodedBytes}. */
export function decodeBytes(encoded: EncodedBytes): Buffer {
  return 'utf8' in encoded ? Buffer.from(encoded.utf8, 'utf8') : Buffer.from(encoded.base64, 'base64');
}

/**
 * The lossless RawMessage of a record. Only for records whose value is non-null
 * valid UTF-8 (the checks of `parseRecord` come first); throws otherwise.
 *
 * Header values: an `undefined` header is dropped; for a header name that occurs
 * more than once (kafkajs gives an array) only the FIRST value is kept, so such a
 * record re-published from the RawMessage carries that header once.
 */
export function toRawMessage(rec: KafkaRecord): RawMessage {
  if (rec.value === null) throw new TypeError('toRawMessage: the record value is null');
  const value = decodeUtf8(rec.value);
  if (value === undefined) throw new TypeError('toRawMessage: the record value is not valid UTF-8');
  return rawMessageOf(rec, value);
}

/** The RawMessage of a record whose value has already been decoded to `value`. */
export function rawMessageOf(rec: KafkaRecord, value: string): RawMessage {
  // A loop (this runs for every record read); setOwn keeps a header named "__proto__" an own property.
  const headers: Record<string, EncodedBytes> = {};
  const flat = flattenHeaders(rec.headers);
  for (const name in flat) {
    if (Object.hasOwn(flat, name)) setOwn(headers, name, encodeBytes(flat[name] as Buffer | string));
  }
  return {
    topic: rec.topic,
    partition: rec.partition,
    offset: rec.offset,
    timestamp: rec.timestamp,
    key: rec.key === null ? null : encodeBytes(rec.key),
    value,
    headers,
  };
}

/** The exact key, value and header bytes of the original record (first value of repeated headers). */
export function rawToKafkaParts(raw: RawMessage): {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, Buffer>;
} {
  return {
    key: raw.key === null ? null : decodeBytes(raw.key),
    value: Buffer.from(raw.value, 'utf8'),
    // Object.fromEntries defines own properties, so even a header named "__proto__" survives.
    headers: Object.fromEntries(Object.entries(raw.headers).map(([name, v]) => [name, decodeBytes(v)])),
  };
}
