/**
 * Retention periods as operators write them (`IDEM_DEDUP_RETENTION=30d`, `idem prune --every 1d`)
 * and read them in messages: days, hours, minutes, seconds, milliseconds, or several together.
 */

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** `30d`, `720h`, `1d12h`, `90m` → milliseconds; undefined when the text is no such duration (a
 * bare number is refused: days or seconds would be a guess). */
export function parseRetention(text: string): number | undefined {
  const s = text.trim().toLowerCase().replace(/\s+/g, '');
  if (!/^(\d+(ms|d|h|m|s))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+)(ms|d|h|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
  return Number.isSafeInteger(ms) ? ms : undefined;
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
