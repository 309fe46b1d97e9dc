/**
 * Retention periods as operators write them (`IDEM_DEDUP_RETENTION=30d`, `idem prune --every 1d`)
 * and read them in messages: days, hours, minutes, seconds, milliseconds, or several together.
 */
import { parseDuration } from '../observability/duration';

/** `30d`, `720h`, `1d12h`, `90m` → milliseconds (parseDuration's grammar, whole numbers only);
 * undefined when the text is no such duration (a bare number is refused: days or seconds would be
 * a guess). */
export function parseRetention(text: string): number | undefined {
  if (text.includes('.')) return undefined;
  try {
    const ms = parseDuration(text);
    return Number.isSafeInteger(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** Milliseconds for people: `30d`, `7d 12h`, `36h` stays `1d 12h`, `90s` is `1m 30s`. */
export function formatRetention(ms: number): string {
  if (!Number.isFinite(ms)) return 'for ever';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}
