/**
 * The envelope attribute checks shared by every wire form (required and optional
 * string attributes, their length limits and Unicode well-formedness), and the
 * assembly of the checked attributes into an {@link IdemEvent}.
 */
import { invalid } from './envelope-error';
import { type Json, jsonType, member } from './json';
import type { EncodedBytes, IdemEvent, RawMessage } from './types';
import { codePointLength, firstLoneSurrogate } from './utf8';

/** Limits on envelope attributes, in Unicode code points. */
export const ENVELOPE_LIMITS = { maxIdLength: 1000, maxSourceLength: 1000, maxTypeLength: 255 } as const;

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

/** An optional string attribute. Strict (CloudEvents): any other type is an error. Lenient (plain): ignored. */
export function optionalAttr(obj: Json, name: string, ctx: string, strict: boolean): string | undefined {
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

/** A required attribute's value: non-empty, at most `limit` code points, well-formed Unicode. */
export function checkString(value: string, name: string, limit: number, ctx: string): void {
  if (value === '') throw invalid(`${ctx}: attribute "${name}" must not be empty`);
  const length = codePointLength(value);
  if (length > limit) throw invalid(`${ctx}: ${name} is ${length} characters; the limit is ${limit}`);
  checkWellFormed(value, name, ctx);
}

export function checkWellFormed(value: string, name: string, ctx: string): void {
  const lone = firstLoneSurrogate(value);
  if (lone) {
    const unit = lone.unit.toString(16).toUpperCase();
    throw invalid(
      `${ctx}: attribute "${name}" contains an unpaired surrogate \\u${unit} at index ${lone.index}; it must be valid Unicode`,
    );
  }
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
