/**
 * The plain JSON form: an object with string `id` and `type`, read as an event
 * without any CloudEvents framing.
 */
import { buildEvent, ENVELOPE_LIMITS, optionalAttr, requireAttr } from './attributes';
import { type Json, member } from './json';
import type { IdemEvent, RawMessage } from './types';

/**
 * A plain JSON event: `source` defaults to the topic; `data` is the `data` member
 * when there is one (even `null`), else the whole object. Optional attributes of
 * another type than string are the producer's payload, so they are ignored.
 */
export function fromPlain(raw: RawMessage, obj: Json): IdemEvent {
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
  return buildEvent(raw, 'plain', { id, source, type, subject, time, datacontenttype, data });
}
