/**
 * CloudEvents 1.0 in its two Kafka binding modes: structured (the value is a
 * JSON-format event) and binary (attributes in `ce_*` headers, the value is
 * `data`), plus the header lookup and media types that tell the modes apart.
 */
import {
  buildEvent,
  checkBase64,
  checkContextAttributes,
  checkExtensionName,
  checkExtensionValue,
  checkString,
  checkCeString,
  CONTEXT_ATTRIBUTES,
  ENVELOPE_LIMITS,
  optionalAttr,
  requireAttr,
  SPEC_VERSION,
} from './attributes';
import { EnvelopeError, invalid } from './envelope-error';
import { checkJsonDepth, errorText, type Json, jsonType, member, tryJson } from './json';
import type { KafkaHeaderValue } from './kafka-headers';
import type { EncodedBytes, IdemEvent, RawMessage } from './types';
import { stripBom } from './utf8';

/** A structured-mode event: `obj` is the parsed value. */
export function fromStructured(raw: RawMessage, obj: Json): IdemEvent {
  const ctx = 'structured-mode CloudEvent';
  checkSpecVersion(member(obj, 'specversion'), ctx, 'attribute "specversion"');
  const id = requireAttr(obj, 'id', ENVELOPE_LIMITS.maxIdLength, ctx);
  const source = requireAttr(obj, 'source', ENVELOPE_LIMITS.maxSourceLength, ctx);
  const type = requireAttr(obj, 'type', ENVELOPE_LIMITS.maxTypeLength, ctx);
  const subject = optionalAttr(obj, 'subject', ctx, true);
  const time = optionalAttr(obj, 'time', ctx, true);
  const datacontenttype = optionalAttr(obj, 'datacontenttype', ctx, true);
  const dataschema = optionalAttr(obj, 'dataschema', ctx, true);
  checkContextAttributes({ source, time, datacontenttype, dataschema }, ctx);
  for (const name in obj) {
    // Own members only (JSON.parse makes no others), without Object.entries' arrays per record.
    if (!Object.hasOwn(obj, name)) continue;
    if (CONTEXT_ATTRIBUTES.has(name) || name === 'data' || name === 'data_base64') continue;
    checkExtensionName(name, ctx);
    checkExtensionValue(name, obj[name], ctx);
  }

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
    checkBase64(dataBase64, ctx);
    data = dataBase64;
  }
  return buildEvent(raw, 'structured', { id, source, type, subject, time, datacontenttype, data });
}

/** A binary-mode event; `contentType` is the `content-type` header, `mediaType` its media type. */
export function fromBinary(
  raw: RawMessage,
  contentType: string | undefined,
  mediaType: string | undefined,
  repeated: ReadonlySet<string> = new Set(),
): IdemEvent {
  const ctx = 'binary-mode CloudEvent';
  checkCeHeaders(raw.headers, ctx, repeated);
  const attr = (name: string): string | undefined => {
    const text = headerText(raw.headers, `ce_${name}`);
    if (text === '' && !REQUIRED.has(name))
      throw invalid(`${ctx}: header "ce_${name}" must not be empty (leave it out instead)`);
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
  if (subject !== undefined) checkCeString(subject, 'subject', ctx);
  const time = attr('time');
  const dataschema = attr('dataschema');
  const datacontenttype = contentType === '' ? undefined : contentType;
  checkContextAttributes({ source, time, datacontenttype, dataschema }, ctx);
  return buildEvent(raw, 'binary', {
    id,
    source,
    type,
    subject,
    time,
    datacontenttype,
    data: binaryData(raw.value, contentType, mediaType, ctx),
  });
}

/** The `data` of a binary-mode event: JSON-parsed for a JSON content type, tried as JSON when
 * there is none, else the text itself. */
function binaryData(
  value: string,
  contentType: string | undefined,
  mediaType: string | undefined,
  ctx: string,
): unknown {
  const isJson =
    mediaType !== undefined &&
    (mediaType === 'application/json' || mediaType === 'text/json' || mediaType.endsWith('+json'));
  if (isJson) {
    let data: unknown;
    try {
      data = JSON.parse(stripBom(value));
    } catch (err) {
      throw invalid(
        `${ctx}: value is not valid JSON although content-type is "${contentType}": ${errorText(err)}`,
      );
    }
    checkJsonDepth(value, `${ctx}: `);
    return data;
  }
  if (mediaType === undefined) {
    const parsed = tryJson(value);
    if (parsed === undefined) return value;
    checkJsonDepth(value, `${ctx}: `);
    return parsed.value;
  }
  return value;
}

const REQUIRED = new Set(['specversion', 'id', 'source', 'type']);

/**
 * The Kafka binding's `ce_` headers: each names an attribute in lower-case letters and digits,
 * and no attribute comes twice (`ce_id` and `CE_ID` with other values, or `ce_id` sent twice
 * with other values, would leave which one is the event's identity to chance). There is no
 * `ce_datacontenttype`: in binary mode the `content-type` header is the datacontenttype (Kafka
 * protocol binding, 3.2.1 and 3.2.3), and a second one could contradict it.
 */
function checkCeHeaders(
  headers: Record<string, EncodedBytes>,
  ctx: string,
  repeated: ReadonlySet<string>,
): void {
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('ce_')) continue;
    if (repeated.has(lower)) throw invalid(`${ctx}: header "${name}" comes twice with different values`);
    if (lower === 'ce_datacontenttype')
      throw invalid(
        `${ctx}: header "${name}" is not allowed; in binary mode the content-type header is the datacontenttype`,
      );
    const attribute = name.slice(3);
    checkExtensionName(attribute, `${ctx} (header "${name}")`);
    const text = 'utf8' in value ? value.utf8 : value.base64;
    const before = seen.get(lower);
    if (before !== undefined && before !== text)
      throw invalid(`${ctx}: header "${name}" comes twice with different values`);
    seen.set(lower, text);
  }
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

/**
 * The lower-case names of the `content-type` and `ce_*` headers that the record carries more than
 * once with different values (kafkajs hands a repeated name over as an array of its values). The
 * RawMessage keeps only the first value, so this is read from the record as kafkajs gave it.
 */
export function conflictingRepeatedHeaders(
  headers: Record<string, KafkaHeaderValue> | undefined,
): ReadonlySet<string> {
  // A loop, and a set only when there is a conflict: this runs for every record read.
  let out: Set<string> | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (!Object.hasOwn(headers, name) || !Array.isArray(value)) continue;
    const lower = name.toLowerCase();
    if (lower !== 'content-type' && !lower.startsWith('ce_')) continue;
    const values = value.flatMap((v) => (v === undefined ? [] : [Buffer.from(v)]));
    if (values.some((v) => !v.equals(values[0] as Buffer))) (out ??= new Set()).add(lower);
  }
  return out ?? NO_HEADERS;
}

const NO_HEADERS: ReadonlySet<string> = new Set();

/** A header by exact name, else by case-insensitive name (first in header order). */
export function findHeader(headers: Record<string, EncodedBytes>, name: string): EncodedBytes | undefined {
  if (Object.hasOwn(headers, name)) return headers[name];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** A header's text; a header that is not UTF-8 is an `invalid_utf8` error. */
export function headerText(headers: Record<string, EncodedBytes>, name: string): string | undefined {
  const value = findHeader(headers, name);
  if (value === undefined) return undefined;
  if ('utf8' in value) return value.utf8;
  throw new EnvelopeError('invalid_utf8', `header "${name}" is not valid UTF-8`);
}

/** `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();
}
