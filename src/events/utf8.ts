/**
 * UTF-8 and Unicode helpers for envelope parsing: strict decoding, the offset of
 * the first byte that breaks UTF-8, code point counting, unpaired surrogates, the
 * characters a CloudEvents String may not hold, and control characters escaped for
 * error messages.
 */
import { TextDecoder } from 'node:util';

// ignoreBOM: keep a leading U+FEFF in the text, so that re-encoding gives back the exact bytes.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** With the `u` flag a class of surrogates matches only unpaired ones. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const BOM = '\uFEFF';

/** The text of UTF-8 bytes (a BOM kept), or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Index of the first byte that breaks UTF-8 (RFC 3629), or -1 when all is valid. For error messages. */
export function firstInvalidUtf8Offset(b: Uint8Array): number {
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

/* eslint-disable no-control-regex */
/** C0 and C1 control characters (Unicode category Cc). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
/* eslint-enable no-control-regex */
/** Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of each of the 17 planes. */
const NONCHARACTER =
  /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;

/**
 * The first character a CloudEvents `String` must not hold (CloudEvents 1.0, "Type System"): a
 * control character (U+0000-U+001F, U+007F-U+009F), a noncharacter, or an unpaired surrogate;
 * undefined when there is none. `what` names the kind for an error message.
 */
export function firstDisallowedInString(
  s: string,
):
  | { what: 'control character' | 'noncharacter' | 'unpaired surrogate'; codePoint: number; index: number }
  | undefined {
  // Printable ASCII (nearly every attribute) holds none of them: no regular expression, no allocation.
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 0x20 && s.charCodeAt(i) <= 0x7e) i++;
  if (i === s.length) return undefined;
  const found = [
    { what: 'control character' as const, match: CONTROL.exec(s) },
    { what: 'noncharacter' as const, match: NONCHARACTER.exec(s) },
    { what: 'unpaired surrogate' as const, match: LONE_SURROGATE.exec(s) },
  ]
    .filter((f) => f.match !== null)
    .sort((a, b) => (a.match?.index ?? 0) - (b.match?.index ?? 0))[0];
  if (!found?.match) return undefined;
  return { what: found.what, codePoint: found.match[0].codePointAt(0) ?? 0, index: found.match.index };
}

/** `U+001B`: a code point as the Unicode standard writes it. */
export function uPlus(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The text with every control character written as a `\uXXXX` escape: error messages quote the
 * record, and end up in a Kafka header and on an operator's terminal (`idem dlq list`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Unicode code points in the string (a surrogate pair counts once, an unpaired surrogate once). */
export function codePointLength(s: string): number {
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

/** The text without a leading byte order mark: RFC 8259 allows a JSON parser to ignore one,
 * JSON.parse does not. */
export function stripBom(text: string): string {
  return text.startsWith(BOM) ? text.slice(1) : text;
}
