import pino, { type Logger } from 'pino';
import { redactSecrets } from './redact';

export type { Logger };

/** JSON logs to stderr (stdout stays free for command output); no URL's password in any line. */
export function createLogger(
  level: string,
  name = 'idem',
  destination: pino.DestinationStream = pino.destination(2),
): Logger {
  return pino({ name, level, hooks: { streamWrite: redactSecrets } }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Lets a repeated log line through once per `intervalMs` per key: returns how many lines of that
 * key it held back since the last one let through, or undefined to hold this one back too.
 */
export function repeatLimiter(
  intervalMs = 10_000,
  now: () => number = Date.now,
): (key: string) => number | undefined {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (key) => {
    const t = now();
    const last = seen.get(key);
    if (last && t - last.at < intervalMs) {
      last.suppressed++;
      return undefined;
    }
    if (seen.size >= 1_000) seen.clear();
    seen.set(key, { at: t, suppressed: 0 });
    return last?.suppressed ?? 0;
  };
}

/**
 * A warning that repeats every tick while a dependency is down (a poll of the store every
 * 20 ms): the first is logged, then one per `intervalMs` saying how many were left out.
 */
export function throttledWarn(
  log: Logger,
  message: string,
  intervalMs = 10_000,
  now: () => number = Date.now,
): (err: unknown) => void {
  const letThrough = repeatLimiter(intervalMs, now);
  return (err) => {
    const suppressed = letThrough('');
    if (suppressed !== undefined) log.warn({ err, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  };
}
