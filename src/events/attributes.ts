/**
 * The envelope attribute checks shared by every wire form (required and optional
 * string attributes, their length limits, the characters a CloudEvents String may
 * hold), and the assembly of the checked attributes into an {@link IdemEvent}.
 */
import { invalid } from './envelope-error';
import { type Json, jsonType, MAX_JSON_DEPTH, member } from './json';
import type { EncodedBytes, IdemEvent, RawMessage } from './types';
import { codePointLength, firstDisallowedInString, uPlus } from './utf8';

/**
 * Limits on envelope attributes, in Unicode code points; on the ordering key in UTF-8 bytes; on
 * the nesting of JSON values in levels of arrays and objects.
 *
 * - The ordering key (the Kafka key, else the subject) is stored as PostgreSQL text under
 *   B-tree indexes (key parking), whose entries cannot exceed about 2,700 bytes: a longer key
 *   would make parking its key fail on every retry, holding the key and its partition.
 * - JSON nested deeper than Node's stack allows (about 4,000 levels) makes `JSON.stringify`, a
 *   handler's schema or PostgreSQL's jsonb fail with a stack overflow on every attempt; 512
 *   levels leave room for handlers that recurse, and are more than any real payload has.
 */
export const ENVELOPE_LIMITS = {
  maxIdLength: 1000,
  maxSourceLength: 1000,
  maxTypeLength: 255,
  maxKeyBytes: 1000,
  maxJsonDepth: MAX_JSON_DEPTH,
} as const;

/** The only CloudEvents version accepted; plain events are reported with it too. */
export const SPEC_VERSION = '1.0';

/** A required string attribute of a JSON envelope. */
export function requireAttr(obj: Json, name: string, limit: number, ctx: string): string {
  const value = member(obj, name);
  if (value === undefined) throw invalid(`${ctx}: missing required attribute "${name}"`);
  if (typeof value !== 'string') {
    throw invalid(`${ctx}: attribute "${name}" must be a string, got ${jsonType(value)}`);
  }
  checkString(value, name, limit, ctx);
  return value;
}

/**
 * An optional string attribute. Strict (CloudEvents): any other type, an empty string or a
 * character a CloudEvents String may not hold is an error. Lenient (plain): such a member is the
 * producer's payload, not an attribute, and is ignored.
 */
export function optionalAttr(obj: Json, name: string, ctx: string, strict: boolean): string | undefined {
  const value = member(obj, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (!strict) return undefined;
    throw invalid(`${ctx}: attribute "${name}" must be a string, got ${jsonType(value)}`);
  }
  if (value === '') {
    // CloudEvents: an optional attribute, when present, is a non-empty string.
    if (strict) throw invalid(`${ctx}: attribute "${name}" must not be empty (leave it out instead)`);
    return undefined;
  }
  if (!strict && firstDisallowedInString(value)) return undefined;
  checkCeString(value, name, ctx);
  return value;
}

// --- CloudEvents 1.0 attribute constraints (the JSON format and the Kafka binding share them) ---

/** The attributes the specification defines; any other is an extension. */
export const CONTEXT_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'subject',
  'time',
  'datacontenttype',
  'dataschema',
]);

/** RFC 3339 `date-time`: full date, `T`, full time with seconds, offset. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

export function checkTime(value: string, ctx: string): void {
  const m = RFC3339.exec(value);
  const [y, mo, d, h, mi, sec, , , oh, om] = (m?.slice(1) ?? []).map((x) =>
    x === undefined ? 0 : Number(x),
  );
  const valid =
    m !== null &&
    mo !== undefined &&
    mo >= 1 &&
    mo <= 12 &&
    d !== undefined &&
    d >= 1 &&
    d <= new Date(Date.UTC(y ?? 0, mo, 0)).getUTCDate() &&
    (h ?? 24) <= 23 &&
    (mi ?? 60) <= 59 &&
    (sec ?? 61) <= 60 &&
    (oh ?? 0) <= 23 &&
    (om ?? 0) <= 59;
  if (!valid)
    throw invalid(
      `${ctx}: attribute "time" must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z, got ${JSON.stringify(truncated(value))}`,
    );
}

/** RFC 2046 media type (RFC 6838 restricted names), with optional parameters. */
const TOKEN = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(\\s*;\\s*[A-Za-z0-9!#$%&'*+.^_\`|~-]+=("([^"\\\\]|\\\\.)*"|[A-Za-z0-9!#$%&'*+.^_\`|~-]+))*\\s*$`,
);

export function checkMediaType(value: string, ctx: string): void {
  if (!MEDIA_TYPE.test(value))
    throw invalid(
      `${ctx}: attribute "datacontenttype" must be an RFC 2046 media type such as application/json, got ${JSON.stringify(truncated(value))}`,
    );
}

/** Unicode white space (JavaScript's `\s`). One object: a literal in the loop made one per character. */
const SPACE = /\s/;

/** The first whitespace or control character (C0, DEL or C1) of `value`, with its index. */
function firstSpaceOrControl(value: string): { char: string; index: number } | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // Below U+00A0, `\s` holds only characters of the first two ranges.
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xa0 && SPACE.test(value[i] as string)))
      return { char: value[i] as string, index: i };
  }
  return undefined;
}

/** `dataschema`: an absolute URI (RFC 3986). */
export function checkAbsoluteUri(value: string, name: string, ctx: string): void {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value) || firstSpaceOrControl(value))
    throw invalid(
      `${ctx}: attribute "${name}" must be an absolute URI, got ${JSON.stringify(truncated(value))}`,
    );
}

/** `source`: a URI-reference (RFC 3986): no whitespace or control characters. */
export function checkUriReference(value: string, name: string, ctx: string): void {
  const bad = firstSpaceOrControl(value);
  if (bad)
    throw invalid(
      `${ctx}: attribute "${name}" must be a URI-reference; it contains ${JSON.stringify(bad.char)} at index ${bad.index}`,
    );
}

/** The constraints of CloudEvents 1.0 that both Kafka binding modes check on the attributes they
 * read (in binary mode, `datacontenttype` is the `content-type` header). */
export function checkContextAttributes(
  a: { source: string; time?: string; datacontenttype?: string; dataschema?: string },
  ctx: string,
): void {
  checkUriReference(a.source, 'source', ctx);
  if (a.time !== undefined) checkTime(a.time, ctx);
  if (a.datacontenttype !== undefined) checkMediaType(a.datacontenttype, ctx);
  if (a.dataschema !== undefined) checkAbsoluteUri(a.dataschema, 'dataschema', ctx);
}

/** Extension attribute names: lower-case ASCII letters and digits only. */
export function checkExtensionName(name: string, ctx: string): void {
  if (!/^[a-z0-9]+$/.test(name))
    throw invalid(
      `${ctx}: extension attribute name ${JSON.stringify(truncated(name))} is not allowed: ` +
        'CloudEvents attribute names are lower-case letters a-z and digits 0-9 only',
    );
}

/** An extension's value in the JSON format: a string, a boolean, an integer (32-bit) or null. */
export function checkExtensionValue(name: string, value: unknown, ctx: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    if (typeof value === 'string') checkCeString(value, name, ctx);
    return;
  }
  if (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= -2_147_483_648 &&
    value <= 2_147_483_647
  )
    return;
  throw invalid(
    `${ctx}: extension attribute "${name}" must be a string, a boolean or a 32-bit integer, got ${jsonType(value as Json)}`,
  );
}

/** `data_base64`: standard base64 (RFC 4648), padding included. */
export function checkBase64(value: string, ctx: string): void {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value.replace(/\s+/g, '')))
    throw invalid(`${ctx}: attribute "data_base64" is not valid base64`);
}

function truncated(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

/**
 * A required attribute's value: non-empty, at most `limit` code points, a CloudEvents String. The
 * identity (`source`, `id`) and `type` of plain JSON events are held to this too: they end up in
 * PostgreSQL text (which cannot hold U+0000), logs, Kafka headers and an operator's terminal.
 */
export function checkString(value: string, name: string, limit: number, ctx: string): void {
  if (value === '') throw invalid(`${ctx}: attribute "${name}" must not be empty`);
  const length = codePointLength(value);
  if (length > limit) throw invalid(`${ctx}: ${name} is ${length} characters; the limit is ${limit}`);
  checkCeString(value, name, ctx);
}

/**
 * A CloudEvents `String` (CloudEvents 1.0, "Type System"): no control characters
 * (U+0000-U+001F, U+007F-U+009F), no noncharacters, no unpaired surrogates.
 */
export function checkCeString(value: string, name: string, ctx: string): void {
  const bad = firstDisallowedInString(value);
  if (!bad) return;
  if (bad.what === 'unpaired surrogate') {
    const unit = bad.codePoint.toString(16).toUpperCase();
    throw invalid(
      `${ctx}: attribute "${name}" contains an unpaired surrogate \\u${unit} at index ${bad.index}; it must be valid Unicode`,
    );
  }
  throw invalid(
    `${ctx}: attribute "${name}" contains the ${bad.what} ${uPlus(bad.codePoint)} at index ${bad.index}; ` +
      `a CloudEvents string may not hold ${bad.what}s`,
  );
}

/** The checked attributes of an event, whatever its wire form. */
export interface Attrs {
  id: string;
  source: string;
  type: string;
  subject: string | undefined;
  time: string | undefined;
  datacontenttype: string | undefined;
  data: unknown;
}

export function buildEvent(raw: RawMessage, mode: IdemEvent['mode'], a: Attrs): IdemEvent {
  const key = orderingKey(raw.key, a.subject);
  const event: IdemEvent = {
    id: a.id,
    source: a.source,
    type: a.type,
    specversion: SPEC_VERSION,
    data: a.data,
    mode,
  };
  if (key !== undefined) event.key = key;
  if (a.subject !== undefined) event.subject = a.subject;
  if (a.time !== undefined) event.time = a.time;
  if (a.datacontenttype !== undefined) event.datacontenttype = a.datacontenttype;
  return event;
}

/**
 * The Kafka key when non-empty, else the subject, else undefined. The key is taken as its text,
 * or as its base64 when it is not UTF-8 or holds U+0000, which PostgreSQL text cannot store (a
 * big-endian integer key such as 00 00 00 2A is valid UTF-8 and common). At most
 * {@link ENVELOPE_LIMITS.maxKeyBytes} bytes of UTF-8.
 */
function orderingKey(key: EncodedBytes | null, subject: string | undefined): string | undefined {
  let text: string | undefined;
  let from = 'the Kafka key';
  if (key !== null) {
    if ('base64' in key) text = key.base64;
    else if (key.utf8.includes('\u0000')) text = Buffer.from(key.utf8, 'utf8').toString('base64');
    else text = key.utf8;
  }
  if (text === undefined || text === '') {
    text = subject;
    from = 'the subject';
  }
  if (text === undefined) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > ENVELOPE_LIMITS.maxKeyBytes)
    throw invalid(
      `the ordering key (${from}) is ${bytes} bytes; the limit is ${ENVELOPE_LIMITS.maxKeyBytes} bytes`,
    );
  return text;
}
