import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger';

/** A real pino logger (idem's, redaction included) writing into a string. */
export function captureLogs(level = 'info') {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    logger: createLogger(level, 'test', sink),
    text: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
