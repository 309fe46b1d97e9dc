import { logLevel, type logCreator } from 'kafkajs';
import { repeatLimiter, type Logger } from './logger';

/**
 * kafkajs logs through idem's logger (JSON on stderr, idem's level) instead of the console. While a
 * broker is down every client logs each failed connection and retry: a warning or error repeated
 * with the same namespace and message is let through once per 10 s, with how many were left out.
 */
export function kafkaLogCreator(logger: Logger, letThrough = repeatLimiter()): logCreator {
  const kafkaLog = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      if (level <= logLevel.WARN) {
        const suppressed = letThrough(`${namespace}\u0000${message}`);
        if (suppressed === undefined) return;
        if (suppressed > 0) extra.suppressed = suppressed;
      }
      const method =
        level <= logLevel.ERROR
          ? 'error'
          : level === logLevel.WARN
            ? 'warn'
            : level === logLevel.INFO
              ? 'info'
              : 'debug';
      kafkaLog[method]({ namespace, ...extra }, message);
    };
}
