import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs to stderr (stdout stays free for command output). */
export function createLogger(level: string, name = 'idem'): Logger {
  return pino({ name, level }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
