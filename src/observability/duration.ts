/**
 * Durations as operators type and read them: `idem stuck --older-than 5m`, and ages printed by
 * `idem status`, `idem stuck` and `idem inspect`.
 */
import { InvalidArgumentError } from '../errors';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `2h`, `7d`, or several of them together
 * (`1h30m`), into milliseconds. A bare number is refused: seconds or milliseconds would be a guess.
 * `what` names the option in the error (for example `--older-than`).
 */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim().toLowerCase();
  const part = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;
  let ms = 0;
  let matched = 0;
  part.lastIndex = 0;
  for (let m = part.exec(s); m; m = part.exec(s)) {
    ms += Number(m[1]) * UNIT_MS[m[2] as Unit];
    matched = part.lastIndex;
    while (s[part.lastIndex] === ' ') part.lastIndex++;
  }
  if (s === '' || matched !== s.length || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(text)}: expected a duration such as 30s, 5m, 2h, 1d or 1h30m`,
    );
  }
  return Math.round(ms);
}

/**
 * A duration for people, two units at most: `850ms`, `42s`, `4m 05s`, `2h 03m`, `3d 04h`.
 * Negative durations (clock skew between hosts) print as 0s.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3_600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${pad(Math.floor((s % 3_600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3_600))}h`;
}
