/**
 * UTF-8 and Unicode helpers for envelope parsing: strict decoding, the offset of
 * the first byte that breaks UTF-8, code point counting and unpaired surrogates.
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

/** The first unpaired UTF-16 surrogate of the string (its code unit and index), or undefined
 * when the string is well-formed Unicode. */
export function firstLoneSurrogate(s: string): { unit: number; index: number } | undefined {
  const match = LONE_SURROGATE.exec(s);
  return match ? { unit: match[0].charCodeAt(0), index: match.index } : undefined;
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
