/**
 * Reading an event value as JSON: the object of a structured or plain event, a
 * member of it (JSON `null` counts as absent), and the words used for JSON values
 * in error messages.
 */
import { invalid } from './envelope-error';
import { stripBom } from './utf8';

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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${prefix}value is ${describeJson(value)}; expected a JSON object`);
  }
  return value as Json;
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
