/**
 * Parsing a Kafka record into an {@link IdemEvent}, and the lossless
 * {@link RawMessage} form of the record that travels through Temporal.
 *
 * Accepted wire forms (docs/architecture.md, "Event envelope and identity"):
 *
 * - Structured CloudEvents 1.0 (JSON event format): the `content-type` header's
 *   media type is `application/cloudevents+json`, or, whatever the headers, the
 *   value is a JSON object with a `specversion` member.
 * - Binary CloudEvents 1.0: a `ce_specversion` header (and no structured
 *   `content-type`). Attributes come from `ce_id`, `ce_source`, `ce_type`,
 *   `ce_subject`, `ce_time`; `content-type` is the `datacontenttype`. The value is
 *   `data`: JSON-parsed when the content type is JSON (`application/json`,
 *   `text/json`, `*+json`; a parse failure is an invalid envelope); when there is no
 *   content type it is JSON-parsed if it parses and kept as a string otherwise;
 *   for any other content type it is kept as a string. Other `ce_*` headers
 *   (extensions) are ignored. A `ce_*` or `content-type` header sent twice with
 *   different values, and a `ce_datacontenttype` header (the binding maps
 *   datacontenttype to `content-type` only), are invalid envelopes: which value
 *   holds the identity or the content type must not be left to chance.
 * - Plain JSON: an object with string `id` and `type`; `source` defaults to the
 *   topic name. `data` is the object's `data` member when it has one (even `null`),
 *   otherwise the whole object (including `id` and `type`). String members
 *   `subject`, `time` and `datacontenttype` are picked up; of any other type they
 *   are ignored (they are the producer's payload, not envelope attributes).
 *   `specversion` is reported as "1.0": the event is normalised into the
 *   CloudEvents shape; `mode: 'plain'` tells it apart. `id`, `type` and `source` are
 *   held to the CloudEvents String rules like the other forms; an optional member
 *   that breaks them is the producer's payload and is ignored.
 *
 * Where the CloudEvents Kafka binding and a loose reading disagree the binding
 * wins: a `content-type` of `application/cloudevents…` means structured mode even
 * if a `ce_specversion` header is present too; batched
 * (`application/cloudevents-batch…`) and non-JSON event formats are rejected.
 * Header names are matched exactly first, then case-insensitively.
 *
 * Checks, in this order, each failing with its own {@link DlqReason}:
 * null or empty value → `invalid_envelope`; value over `maxEventBytes` →
 * `too_large`; value not UTF-8 → `invalid_utf8`; then the envelope itself →
 * `invalid_envelope` (not a JSON object, JSON nested deeper than 512 levels, missing
 * or non-string `id`/`type`/`source`, `specversion` other than "1.0", `id` or
 * `source` over 1,000 characters, `type` over 255, attribute strings that are not
 * CloudEvents Strings: control characters, noncharacters, unpaired surrogates; an
 * ordering key over 1,000 bytes) or `invalid_utf8` (a needed header that is not
 * UTF-8). Lengths are counted in Unicode code points. A JSON `null` attribute counts
 * as absent (CloudEvents JSON format, 3.1); a structured event without `data` (or
 * `data_base64`) gets `data: null`, which also survives the JSON trip through
 * Temporal unchanged. Error messages escape control characters (they may quote the
 * record, and are printed by `idem dlq list`).
 *
 * Ordering key: the Kafka key when it is non-empty (its text when it is UTF-8 without
 * U+0000, else its base64), else the `subject`, else none; at most 1,000 bytes.
 *
 * {@link parseRecord} (ingester, from kafkajs) and {@link parseRawMessage} (inside
 * activities, from the Temporal payload) share one core, so they always agree.
 * Parsing never throws: an unexpected internal error becomes `invalid_envelope`
 * so that one bad record can never wedge its partition.
 *
 * This module holds the entry points and the order of the checks. The parts live in:
 * `codec.ts` (RawMessage and the byte encoding), `utf8.ts` (decoding, code points,
 * well-formedness), `cloudevents.ts` (structured and binary mode, header lookup,
 * media types, spec version), `plain-json.ts` (the plain form), `attributes.ts`
 * (attribute checks shared by the forms, limits, building the event), `json.ts`
 * (reading the value as JSON) and `envelope-error.ts` (the error the checks throw).
 */
import {
  conflictingRepeatedHeaders,
  fromBinary,
  fromStructured,
  findHeader,
  headerText,
  mediaTypeOf,
} from './cloudevents';
import { type KafkaRecord, rawMessageOf } from './codec';
import { EnvelopeError, invalid } from './envelope-error';
import { parseObject } from './json';
import { fromPlain } from './plain-json';
import type { DlqReason, IdemEvent, RawMessage } from './types';
import { decodeUtf8, escapeControls, firstInvalidUtf8Offset } from './utf8';

// The public face of event parsing: importers outside src/events/ need only this module.
export { decodeBytes, encodeBytes, type KafkaRecord, rawToKafkaParts, toRawMessage } from './codec';
export type { KafkaHeaderValue } from './kafka-headers';

export interface ParseOptions {
  /** Largest accepted value in bytes (`IDEM_MAX_EVENT_BYTES`). */
  maxEventBytes: number;
}

export type ParseResult =
  { ok: true; event: IdemEvent; raw: RawMessage } | { ok: false; reason: DlqReason; error: string };

/** Parse a record straight from kafkajs. Never throws. */
export function parseRecord(rec: KafkaRecord, opts: ParseOptions): ParseResult {
  if (rec.value === null) {
    return fail('invalid_envelope', 'value is null (a tombstone record); expected an event');
  }
  const sizeError = checkSize(rec.value.length, opts);
  if (sizeError) return sizeError;
  const value = decodeUtf8(rec.value);
  if (value === undefined) {
    return fail(
      'invalid_utf8',
      `value is not valid UTF-8 (first invalid byte at offset ${firstInvalidUtf8Offset(rec.value)} of ${rec.value.length})`,
    );
  }
  let raw: RawMessage;
  let repeated: ReadonlySet<string>;
  try {
    raw = rawMessageOf(rec, value);
    repeated = conflictingRepeatedHeaders(rec.headers);
  } catch (err) {
    return unexpected(err);
  }
  return parseCore(raw, repeated);
}

/** Parse the RawMessage of a record (inside activities); agrees with {@link parseRecord}. Never throws. */
export function parseRawMessage(raw: RawMessage, opts: ParseOptions): ParseResult {
  const sizeError = checkSize(Buffer.byteLength(raw.value, 'utf8'), opts);
  if (sizeError) return sizeError;
  return parseCore(raw);
}

function checkSize(bytes: number, opts: ParseOptions): ParseResult | undefined {
  if (bytes === 0) return fail('invalid_envelope', 'value is empty; expected an event');
  if (bytes > opts.maxEventBytes) {
    return fail(
      'too_large',
      `value is ${bytes} bytes; the limit is ${opts.maxEventBytes} bytes (IDEM_MAX_EVENT_BYTES)`,
    );
  }
  return undefined;
}

/** A rejection. Its message may quote the record (JSON.parse quotes the text around an error):
 * control characters are escaped, since it is printed on an operator's terminal. */
function fail(reason: DlqReason, error: string): { ok: false; reason: DlqReason; error: string } {
  return { ok: false, reason, error: escapeControls(error) };
}

function unexpected(err: unknown): ParseResult {
  const message = err instanceof Error ? err.message : String(err);
  return fail('invalid_envelope', `unexpected error while parsing the envelope: ${message}`);
}

/** `repeated`: see {@link conflictingRepeatedHeaders}; only {@link parseRecord} knows them (the
 * RawMessage keeps the first value of a repeated header, and the ingester rejected such records). */
function parseCore(raw: RawMessage, repeated: ReadonlySet<string> = new Set()): ParseResult {
  try {
    return { ok: true, event: parseEvent(raw, repeated), raw };
  } catch (err) {
    if (err instanceof EnvelopeError) return fail(err.reason, err.message);
    return unexpected(err);
  }
}

/** The wire form decides the parser; where the Kafka binding and a loose reading disagree the
 * binding wins (see the top of this file). */
function parseEvent(raw: RawMessage, repeated: ReadonlySet<string>): IdemEvent {
  if (repeated.has('content-type'))
    throw invalid('header "content-type" comes twice with different values; the content mode is ambiguous');
  const contentType = headerText(raw.headers, 'content-type');
  const mediaType = contentType === undefined ? undefined : mediaTypeOf(contentType);

  if (mediaType?.startsWith('application/cloudevents')) {
    if (mediaType === 'application/cloudevents+json') {
      return fromStructured(raw, parseObject(raw.value, 'structured-mode CloudEvent'));
    }
    if (mediaType.startsWith('application/cloudevents-batch')) {
      throw invalid(
        `batched CloudEvents (content-type "${contentType}") are not supported; send one event per record`,
      );
    }
    throw invalid(
      `unsupported CloudEvents event format (content-type "${contentType}"); only application/cloudevents+json is supported`,
    );
  }
  if (findHeader(raw.headers, 'ce_specversion') !== undefined) {
    return fromBinary(raw, contentType, mediaType, repeated);
  }
  const obj = parseObject(raw.value, undefined);
  if (Object.hasOwn(obj, 'specversion')) return fromStructured(raw, obj);
  return fromPlain(raw, obj);
}
