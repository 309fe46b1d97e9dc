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
 *   (extensions) are ignored.
 * - Plain JSON: an object with string `id` and `type`; `source` defaults to the
 *   topic name. `data` is the object's `data` member when it has one (even `null`),
 *   otherwise the whole object (including `id` and `type`). String members
 *   `subject`, `time` and `datacontenttype` are picked up; of any other type they
 *   are ignored (they are the producer's payload, not envelope attributes).
 *   `specversion` is reported as "1.0": the event is normalised into the
 *   CloudEvents shape; `mode: 'plain'` tells it apart.
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
 * `invalid_envelope` (not a JSON object, missing or non-string `id`/`type`/`source`,
 * `specversion` other than "1.0", `id` or `source` over 1,000 characters, `type`
 * over 255, attributes that are not well-formed Unicode) or `invalid_utf8` (a
 * needed header that is not UTF-8). Lengths are counted in Unicode code points.
 * A JSON `null` attribute counts as absent (CloudEvents JSON format, 3.1); a
 * structured event without `data` (or `data_base64`) gets `data: null`, which also
 * survives the JSON trip through Temporal unchanged.
 *
 * Ordering key: the Kafka key when it is non-empty (its text when it is UTF-8, else
 * its base64), else the `subject`, else none.
 *
 * {@link parseRecord} (ingester, from kafkajs) and {@link parseRawMessage} (inside
 * activities, from the Temporal payload) share one core, so they always agree.
 * Parsing never throws: an unexpected internal error becomes `invalid_envelope`
 * so that one bad record can never wedge its partition.
 */
import { TextDecoder } from 'node:util';

import type { DlqReason, EncodedBytes, IdemEvent, RawMessage } from './types';

/** A header value as kafkajs hands it over (duplicate header names arrive as an array). */
export type KafkaHeaderValue = Buffer | string | (Buffer | string)[] | undefined;

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

export interface ParseOptions {
  /** Largest accepted value in bytes (`IDEM_MAX_EVENT_BYTES`). */
  maxEventBytes: number;
}

export type ParseResult =
  { ok: true; event: IdemEvent; raw: RawMessage } | { ok: false; reason: DlqReason; error: string };

/** Limits on envelope attributes, in Unicode code points. */
export const ENVELOPE_LIMITS = { maxIdLength: 1000, maxSourceLength: 1000, maxTypeLength: 255 } as const;

/** The only CloudEvents version accepted. */
export const SPEC_VERSION = '1.0';

// ignoreBOM: keep a leading U+FEFF in the text, so that re-encoding gives back the exact bytes.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const BOM = '\uFEFF';

// ---------------------------------------------------------------------------
// Bytes <-> RawMessage
// ---------------------------------------------------------------------------

/** The text of UTF-8 bytes (a BOM kept), or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
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
 * valid UTF-8 (the checks of {@link parseRecord} come first); throws otherwise.
 *
 * Header values: an `undefined` header is dropped; for a header name that occurs
 * more than once (kafkajs gives an array) only the FIRST value is kept, so such a
 * record re-published from the RawMessage carries that header once.
 */
export function toRawMessage(rec: KafkaRecord): RawMessage {
  if (rec.value === null) throw new TypeError('toRawMessage: the record value is null');
  const value = decodeUtf8(rec.value);
  if (value === undefined) throw new TypeError('toRawMessage: the record value is not valid UTF-8');
  return toRaw(rec, value);
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

function toRaw(rec: KafkaRecord, value: string): RawMessage {
  const headers: [string, EncodedBytes][] = [];
  for (const [name, v] of Object.entries(rec.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) headers.push([name, encodeBytes(first)]);
  }
  return {
    topic: rec.topic,
    partition: rec.partition,
    offset: rec.offset,
    timestamp: rec.timestamp,
    key: rec.key === null ? null : encodeBytes(rec.key),
    value,
    headers: Object.fromEntries(headers),
  };
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

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
  try {
    raw = toRaw(rec, value);
  } catch (err) {
    return unexpected(err);
  }
  return parseCore(raw);
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

class EnvelopeError extends Error {
  constructor(
    readonly reason: DlqReason,
    message: string,
  ) {
    super(message);
  }
}

function fail(reason: DlqReason, error: string): { ok: false; reason: DlqReason; error: string } {
  return { ok: false, reason, error };
}

function unexpected(err: unknown): ParseResult {
  const message = err instanceof Error ? err.message : String(err);
  return fail('invalid_envelope', `unexpected error while parsing the envelope: ${message}`);
}

function parseCore(raw: RawMessage): ParseResult {
  try {
    return { ok: true, event: parseEvent(raw), raw };
  } catch (err) {
    if (err instanceof EnvelopeError) return fail(err.reason, err.message);
    return unexpected(err);
  }
}

type Mode = IdemEvent['mode'];
type Json = Record<string, unknown>;

function parseEvent(raw: RawMessage): IdemEvent {
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
    return fromBinary(raw, contentType, mediaType);
  }
  const obj = parseObject(raw.value, undefined);
  if (Object.hasOwn(obj, 'specversion')) return fromStructured(raw, obj);
  return fromPlain(raw, obj);
}

function fromStructured(raw: RawMessage, obj: Json): IdemEvent {
  const ctx = 'structured-mode CloudEvent';
  checkSpecVersion(member(obj, 'specversion'), ctx, 'attribute "specversion"');
  const id = requireAttr(obj, 'id', ENVELOPE_LIMITS.maxIdLength, ctx);
  const source = requireAttr(obj, 'source', ENVELOPE_LIMITS.maxSourceLength, ctx);
  const type = requireAttr(obj, 'type', ENVELOPE_LIMITS.maxTypeLength, ctx);
  const subject = optionalAttr(obj, 'subject', ctx, true);
  const time = optionalAttr(obj, 'time', ctx, true);
  const datacontenttype = optionalAttr(obj, 'datacontenttype', ctx, true);

  const hasData = Object.hasOwn(obj, 'data');
  const dataBase64 = member(obj, 'data_base64');
  if (hasData && dataBase64 !== undefined) {
    throw invalid(`${ctx}: has both "data" and "data_base64"; at most one is allowed`);
  }
  let data: unknown = null; // no data: null, as the JSON event format reads a null member
  if (hasData) data = obj['data'];
  else if (dataBase64 !== undefined) {
    // Kept as the base64 text, not decoded: handlers of binary payloads decode it themselves.
    if (typeof dataBase64 !== 'string') {
      throw invalid(`${ctx}: attribute "data_base64" must be a string, got ${jsonType(dataBase64)}`);
    }
    data = dataBase64;
  }
  return build(raw, 'structured', { id, source, type, subject, time, datacontenttype, data });
}

function fromBinary(
  raw: RawMessage,
  contentType: string | undefined,
  mediaType: string | undefined,
): IdemEvent {
  const ctx = 'binary-mode CloudEvent';
  const attr = (name: string): string | undefined => {
    const text = headerText(raw.headers, `ce_${name}`);
    return text === '' ? undefined : text;
  };
  const required = (name: string, limit: number): string => {
    const value = attr(name);
    if (value === undefined)
      throw invalid(`${ctx}: missing required attribute "${name}" (header "ce_${name}")`);
    checkString(value, name, limit, ctx);
    return value;
  };
  const specversion = attr('specversion');
  checkSpecVersion(specversion ?? null, ctx, 'header "ce_specversion"');
  const id = required('id', ENVELOPE_LIMITS.maxIdLength);
  const source = required('source', ENVELOPE_LIMITS.maxSourceLength);
  const type = required('type', ENVELOPE_LIMITS.maxTypeLength);
  const subject = attr('subject');
  if (subject !== undefined) checkWellFormed(subject, 'subject', ctx);
  const time = attr('time');

  let data: unknown;
  const isJson =
    mediaType !== undefined &&
    (mediaType === 'application/json' || mediaType === 'text/json' || mediaType.endsWith('+json'));
  if (isJson) {
    try {
      data = JSON.parse(stripBom(raw.value));
    } catch (err) {
      throw invalid(
        `${ctx}: value is not valid JSON although content-type is "${contentType}": ${errorText(err)}`,
      );
    }
  } else if (mediaType === undefined) {
    const parsed = tryJson(raw.value);
    data = parsed === undefined ? raw.value : parsed.value;
  } else {
    data = raw.value;
  }
  return build(raw, 'binary', {
    id,
    source,
    type,
    subject,
    time,
    datacontenttype: contentType === '' ? undefined : contentType,
    data,
  });
}

function fromPlain(raw: RawMessage, obj: Json): IdemEvent {
  const ctx = 'plain JSON event';
  const id = requireAttr(obj, 'id', ENVELOPE_LIMITS.maxIdLength, ctx);
  const type = requireAttr(obj, 'type', ENVELOPE_LIMITS.maxTypeLength, ctx);
  const source =
    member(obj, 'source') === undefined
      ? raw.topic
      : requireAttr(obj, 'source', ENVELOPE_LIMITS.maxSourceLength, ctx);
  const subject = optionalAttr(obj, 'subject', ctx, false);
  const time = optionalAttr(obj, 'time', ctx, false);
  const datacontenttype = optionalAttr(obj, 'datacontenttype', ctx, false);
  const data = Object.hasOwn(obj, 'data') ? obj['data'] : obj;
  return build(raw, 'plain', { id, source, type, subject, time, datacontenttype, data });
}

interface Attrs {
  id: string;
  source: string;
  type: string;
  subject: string | undefined;
  time: string | undefined;
  datacontenttype: string | undefined;
  data: unknown;
}

function build(raw: RawMessage, mode: Mode, a: Attrs): IdemEvent {
  const event: IdemEvent = {
    id: a.id,
    source: a.source,
    type: a.type,
    specversion: SPEC_VERSION,
    data: a.data,
    mode,
  };
  const key = orderingKey(raw.key, a.subject);
  if (key !== undefined) event.key = key;
  if (a.subject !== undefined) event.subject = a.subject;
  if (a.time !== undefined) event.time = a.time;
  if (a.datacontenttype !== undefined) event.datacontenttype = a.datacontenttype;
  return event;
}

/** The Kafka key when non-empty (text, or base64 when not UTF-8), else the subject, else undefined. */
function orderingKey(key: EncodedBytes | null, subject: string | undefined): string | undefined {
  if (key !== null) {
    const text = 'utf8' in key ? key.utf8 : key.base64;
    if (text !== '') return text;
  }
  return subject;
}

// ---------------------------------------------------------------------------
// Attribute helpers
// ---------------------------------------------------------------------------

function invalid(message: string): EnvelopeError {
  return new EnvelopeError('invalid_envelope', message);
}

/** An own member of the object; JSON `null` counts as absent (undefined). */
function member(obj: Json, name: string): unknown {
  if (!Object.hasOwn(obj, name)) return undefined;
  const value = obj[name];
  return value === null ? undefined : value;
}

/** The value as a JSON object; `ctx` (when known) prefixes error messages. */
function parseObject(text: string, ctx: string | undefined): Json {
  const prefix = ctx === undefined ? '' : `${ctx}: `;
  let value: unknown;
  try {
    value = JSON.parse(stripBom(text));
  } catch (err) {
    throw invalid(`${prefix}value is not valid JSON: ${errorText(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${prefix}value is ${describeJson(value)}; expected a JSON object`);
  }
  return value as Json;
}

function checkSpecVersion(value: unknown, ctx: string, where: string): void {
  if (value === undefined || value === null) throw invalid(`${ctx}: missing required ${where}`);
  if (typeof value !== 'string') throw invalid(`${ctx}: ${where} must be a string, got ${jsonType(value)}`);
  if (value !== SPEC_VERSION) {
    throw invalid(
      `${ctx}: unsupported specversion ${JSON.stringify(value)}; only "${SPEC_VERSION}" is supported`,
    );
  }
}

function requireAttr(obj: Json, name: string, limit: number, ctx: string): string {
  const value = member(obj, name);
  if (value === undefined) throw invalid(`${ctx}: missing required attribute "${name}"`);
  if (typeof value !== 'string') {
    throw invalid(`${ctx}: attribute "${name}" must be a string, got ${jsonType(value)}`);
  }
  checkString(value, name, limit, ctx);
  return value;
}

/** An optional string attribute. Strict (CloudEvents): any other type is an error. Lenient (plain): ignored. */
function optionalAttr(obj: Json, name: string, ctx: string, strict: boolean): string | undefined {
  const value = member(obj, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (!strict) return undefined;
    throw invalid(`${ctx}: attribute "${name}" must be a string, got ${jsonType(value)}`);
  }
  if (value === '') return undefined;
  checkWellFormed(value, name, ctx);
  return value;
}

function checkString(value: string, name: string, limit: number, ctx: string): void {
  if (value === '') throw invalid(`${ctx}: attribute "${name}" must not be empty`);
  const length = codePointLength(value);
  if (length > limit) throw invalid(`${ctx}: ${name} is ${length} characters; the limit is ${limit}`);
  checkWellFormed(value, name, ctx);
}

function checkWellFormed(value: string, name: string, ctx: string): void {
  const match = LONE_SURROGATE.exec(value);
  if (match) {
    const unit = match[0].charCodeAt(0).toString(16).toUpperCase();
    throw invalid(
      `${ctx}: attribute "${name}" contains an unpaired surrogate \\u${unit} at index ${match.index}; it must be valid Unicode`,
    );
  }
}

/** Unicode code points in the string (a surrogate pair counts once, an unpaired surrogate once). */
function codePointLength(s: string): number {
  let pairs = 0;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return s.length - pairs;
}

// ---------------------------------------------------------------------------
// Headers and small utilities
// ---------------------------------------------------------------------------

/** A header by exact name, else by case-insensitive name (first in header order). */
function findHeader(headers: Record<string, EncodedBytes>, name: string): EncodedBytes | undefined {
  if (Object.hasOwn(headers, name)) return headers[name];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** A header's text; a header that is not UTF-8 is an `invalid_utf8` error. */
function headerText(headers: Record<string, EncodedBytes>, name: string): string | undefined {
  const value = findHeader(headers, name);
  if (value === undefined) return undefined;
  if ('utf8' in value) return value.utf8;
  throw new EnvelopeError('invalid_utf8', `header "${name}" is not valid UTF-8`);
}

/** `Application/JSON; charset=utf-8` → `application/json`. */
function mediaTypeOf(contentType: string): string {
  return (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();
}

/** RFC 8259 allows a parser to ignore a leading byte order mark; JSON.parse does not. */
function stripBom(text: string): string {
  return text.startsWith(BOM) ? text.slice(1) : text;
}

/** `{ value }` when the text is JSON, else undefined. */
function tryJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(stripBom(text)) as unknown };
  } catch {
    return undefined;
  }
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function describeJson(value: unknown): string {
  const type = jsonType(value);
  return type === 'null' ? 'JSON null' : `a JSON ${type}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Index of the first byte that breaks UTF-8 (RFC 3629), or -1 when all is valid. For error messages. */
function firstInvalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    let trailing: number;
    if (c >= 0xc2 && c <= 0xdf) trailing = 1;
    else if (c >= 0xe0 && c <= 0xef) trailing = 2;
    else if (c >= 0xf0 && c <= 0xf4) trailing = 3;
    else return i;
    if (i + trailing >= b.length) return i;
    let lo = 0x80;
    let hi = 0xbf;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
    else if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
    const second = b[i + 1] ?? 0;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= trailing; k++) {
      const t = b[i + k] ?? 0;
      if (t < 0x80 || t > 0xbf) return i;
    }
    i += trailing + 1;
  }
  return -1;
}
