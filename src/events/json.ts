/**
 * Reading an event value as JSON: the object of a structured or plain event, a
 * member of it (JSON `null` counts as absent), the bound on nesting, and the words
 * used for JSON values in error messages.
 */
import { invalid } from './envelope-error';
import { stripBom } from './utf8';

/** Deepest nesting of arrays and objects accepted in a value (see ENVELOPE_LIMITS.maxJsonDepth). */
export const MAX_JSON_DEPTH = 512;

/** A JSON object. */
export type Json = Record<string, unknown>;

/** The value as a JSON object; `ctx` (when known) prefixes error messages. */
export function parseObject(text: string, ctx: string | undefined): Json {
  const prefix = ctx === undefined ? '' : `${ctx}: `;
  let value: unknown;
  try {
    value = JSON.parse(stripBom(text));
  } catch (err) {
    throw invalid(`${prefix}value is not valid JSON: ${errorText(err)}`);
  }
  checkJsonDepth(text, prefix);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${prefix}value is ${describeJson(value)}; expected a JSON object`);
  }
  return value as Json;
}

/**
 * Rejects JSON text nested deeper than {@link MAX_JSON_DEPTH} levels. JSON.parse reads any depth,
 * but JSON.stringify, schemas and PostgreSQL's jsonb recurse and overflow their stack, on every
 * attempt. For text that JSON.parse accepted: brackets inside strings do not count.
 */
export function checkJsonDepth(text: string, prefix = ''): void {
  // Deeper than the limit takes more than 2 × MAX_JSON_DEPTH brackets (the text is balanced JSON).
  if (text.length <= 2 * MAX_JSON_DEPTH) return;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* backslash: skip the escaped character */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > MAX_JSON_DEPTH)
        throw invalid(
          `${prefix}value nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`,
        );
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
}

/** `{ value }` when the text is JSON, else undefined. */
export function tryJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(stripBom(text)) as unknown };
  } catch {
    return undefined;
  }
}

/** An own member of the object; JSON `null` counts as absent (undefined). */
export function member(obj: Json, name: string): unknown {
  if (!Object.hasOwn(obj, name)) return undefined;
  const value = obj[name];
  return value === null ? undefined : value;
}

export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function describeJson(value: unknown): string {
  const type = jsonType(value);
  return type === 'null' ? 'JSON null' : `a JSON ${type}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
