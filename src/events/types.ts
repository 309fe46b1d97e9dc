/** Bytes carried through Temporal payloads. Kafka keys and header values may be
 * arbitrary bytes; values that are valid UTF-8 travel as text so Temporal Web
 * shows them readably, anything else as base64. */
export type EncodedBytes = { utf8: string } | { base64: string };

/** A Kafka record exactly as it was read, enough to re-publish it unchanged to
 * the dead-letter topic and to re-parse it inside an activity. The value is
 * always text: values that are not valid UTF-8 are rejected before any workflow
 * starts. */
export interface RawMessage {
  topic: string;
  partition: number;
  /** Kafka offset, as a decimal string (offsets are 64-bit). */
  offset: string;
  /** Kafka record timestamp, milliseconds since the epoch, as a decimal string. */
  timestamp: string;
  key: EncodedBytes | null;
  value: string;
  headers: Record<string, EncodedBytes>;
}

/** A parsed, validated event. Identity is (source, id) as CloudEvents defines it. */
export interface IdemEvent {
  id: string;
  source: string;
  type: string;
  specversion: string;
  /** Ordering key: the Kafka message key, else the CloudEvents subject, else undefined. */
  key?: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data: unknown;
  /** Which wire form the event arrived in. */
  mode: 'structured' | 'binary' | 'plain';
}

/** Reasons an event goes to the dead-letter topic (`idem-reason` header). */
export type DlqReason =
  | 'invalid_envelope'
  | 'invalid_utf8'
  | 'too_large'
  | 'unknown_type'
  | 'invalid_payload'
  | 'handler_failed'
  /** An operator cancelled the event's workflow before it applied the event. */
  | 'cancelled'
  /** An operator terminated the event's workflow (or it timed out) before it applied the event:
   * found afterwards by the worker's reconciler (src/reconcile/closed-runs.ts). */
  | 'terminated';
