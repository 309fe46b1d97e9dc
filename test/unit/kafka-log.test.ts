/** kafkajs's log lines through idem's logger, repeated failures held back while a broker is down. */
import { Writable } from 'node:stream';
import { logLevel } from 'kafkajs';
import pino from 'pino';
import { kafkaLogCreator } from '../../src/observability/kafka-log';
import { repeatLimiter } from '../../src/observability/logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

const flush = () => new Promise((r) => setImmediate(r));

test('a warning or error kafkajs repeats is logged once per interval, with how many were held back', async () => {
  const { lines, logger } = capture();
  let now = 0;
  const log = kafkaLogCreator(
    logger,
    repeatLimiter(10_000, () => now),
  )(logLevel.WARN);
  const refused = (at: number) => ({
    namespace: 'Connection',
    level: logLevel.ERROR,
    label: 'ERROR',
    log: {
      timestamp: String(at),
      logger: 'kafkajs',
      message: 'Connection error: connect ECONNREFUSED',
      broker: 'b:9092',
    },
  });
  for (let i = 0; i < 50; i++) {
    now = i * 100; // 50 refusals in 5 s
    log(refused(now));
  }
  // Another message goes through at once: only repeats are held back.
  log({
    namespace: 'BrokerPool',
    level: logLevel.ERROR,
    label: 'ERROR',
    log: { timestamp: '1', logger: 'kafkajs', message: 'Failed to connect to seed broker' },
  });
  now = 10_000;
  log(refused(now));
  // Information is never held back.
  for (let i = 0; i < 3; i++)
    log({
      namespace: 'Consumer',
      level: logLevel.INFO,
      label: 'INFO',
      log: { timestamp: '2', logger: 'kafkajs', message: 'Consumer has joined the group' },
    });
  await flush();
  expect(lines.map((l) => [l.namespace, l.msg, l.suppressed])).toEqual([
    ['Connection', 'Connection error: connect ECONNREFUSED', undefined],
    ['BrokerPool', 'Failed to connect to seed broker', undefined],
    ['Connection', 'Connection error: connect ECONNREFUSED', 49],
    ['Consumer', 'Consumer has joined the group', undefined],
    ['Consumer', 'Consumer has joined the group', undefined],
    ['Consumer', 'Consumer has joined the group', undefined],
  ]);
  expect(lines[0]).toMatchObject({ component: 'kafkajs', broker: 'b:9092', level: 50 });
});
