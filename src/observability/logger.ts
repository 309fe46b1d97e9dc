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
 * A warning that repeats every tick while a dependency is down (a poll of the store every
 * 20 ms): the first is logged, then one per `intervalMs` saying how many were left out.
 */
export function throttledWarn(
  log: Logger,
  message: string,
  intervalMs = 10_000,
  now: () => number = Date.now,
): (err: unknown) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (err) => {
    const t = now();
    if (t - last < intervalMs) {
      suppressed++;
      return;
    }
    log.warn({ err, ...(suppressed > 0 ? { suppressed } : {}) }, message);
    last = t;
    suppressed = 0;
  };
}
