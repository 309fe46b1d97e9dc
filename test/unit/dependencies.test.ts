import {
  NotTransientError,
  Readiness,
  fatalStartError,
  isTemporalUnreachable,
  waitFor,
} from '../../src/dependencies';
import { ConfigError, StoppedError } from '../../src/errors';
import { throttledWarn } from '../../src/observability/logger';
import { redactSecrets } from '../../src/observability/redact';
import { captureLogs } from '../support/log-capture';

const capture = () => captureLogs();

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25432'), { code: 'ECONNREFUSED' });

test('waitFor retries while the dependency is down, reports it not ready meanwhile, and logs each try', async () => {
  const { logger, text } = capture();
  const readiness = new Readiness();
  let tries = 0;
  const seen: boolean[] = [];
  const result = await waitFor(
    'PostgreSQL',
    'migrate',
    async () => {
      seen.push(readiness.status().ready);
      if (++tries < 3) throw refused();
      return 'migrated';
    },
    { logger, readiness, initialDelayMs: 1, maxDelayMs: 2 },
  );
  readiness.markStarted();
  expect(result).toBe('migrated');
  expect(tries).toBe(3);
  expect(seen).toEqual([false, false, false]);
  expect(readiness.status()).toEqual({ ready: true, waiting: {} });
  expect(text().match(/PostgreSQL is not reachable \(migrate: connect ECONNREFUSED/g)).toHaveLength(2);
  expect(text()).toContain('PostgreSQL is back');
});

test('while waiting, readiness names what is awaited and why', async () => {
  const { logger } = capture();
  const readiness = new Readiness();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let tries = 0;
  const waiting = waitFor(
    'Temporal',
    'connect the worker',
    async () => {
      if (++tries === 1) throw new Error('Failed to connect before the deadline');
      await gate;
    },
    { logger, readiness, initialDelayMs: 1 },
  );
  await new Promise((r) => setTimeout(r, 20));
  expect(readiness.status()).toEqual({
    ready: false,
    waiting: { 'Temporal: connect the worker': 'Failed to connect before the deadline' },
  });
  release();
  await waiting;
});

test('what no wait fixes is thrown at once: a configuration error, an attempt marked not transient, a refused password', async () => {
  const { logger } = capture();
  const once = (err: unknown) => {
    let tries = 0;
    return {
      run: () =>
        waitFor(
          'PostgreSQL',
          'migrate',
          async () => {
            tries++;
            throw err;
          },
          { logger, initialDelayMs: 1 },
        ),
      tries: () => tries,
    };
  };
  const config = once(new ConfigError('missing topic'));
  await expect(config.run()).rejects.toThrow('missing topic');
  expect(config.tries()).toBe(1);

  const bug = new TypeError('bundle failed');
  const notTransient = once(new NotTransientError(bug));
  await expect(notTransient.run()).rejects.toBe(bug);
  expect(notTransient.tries()).toBe(1);

  const password = once(
    Object.assign(new Error('password authentication failed for user "idem"'), { code: '28P01' }),
  );
  await expect(password.run()).rejects.toThrow(/the password in DATABASE_URL was refused/);
  expect(password.tries()).toBe(1);
});

test('a stop signal ends the wait with StoppedError', async () => {
  const { logger } = capture();
  const ctl = new AbortController();
  const waiting = waitFor(
    'Kafka',
    'connect',
    async () => {
      throw refused();
    },
    { logger, signal: ctl.signal, initialDelayMs: 60_000 },
  );
  await new Promise((r) => setTimeout(r, 10));
  ctl.abort();
  await expect(waiting).rejects.toBeInstanceOf(StoppedError);
});

test.each([
  [{ name: 'TransportError', message: 'tonic::transport::Error(Transport, ConnectError)' }, true],
  [new Error('Failed to connect before the deadline'), true],
  [Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }), true],
  [new Error('Namespace default is not found'), false],
  [new TypeError('cannot bundle workflows'), false],
])('Temporal unreachable: %p → %p', (err, expected) => {
  expect(isTemporalUnreachable(err)).toBe(expected);
});

test('fatal start errors: Kafka credentials and a missing database; a refused connection is not', () => {
  expect(
    fatalStartError('Kafka', { name: 'KafkaJSSASLAuthenticationError', message: 'SASL' }),
  ).toBeInstanceOf(ConfigError);
  expect(
    fatalStartError('PostgreSQL', Object.assign(new Error('no db'), { code: '3D000' }))?.message,
  ).toMatch(/does not exist/);
  expect(fatalStartError('PostgreSQL', refused())).toBeUndefined();
});

test.each([
  ['postgres://idem:s3cret@db:5432/idem', 'postgres://idem:***@db:5432/idem'],
  ['error at postgresql://u:p%40ss@h/db now', 'error at postgresql://u:***@h/db now'],
  ['{"url":"https://:tok3n@host/x"}', '{"url":"https://:***@host/x"}'],
  ['postgres://idem@db/idem (no password)', 'postgres://idem@db/idem (no password)'],
  ['a:b@c is no URL', 'a:b@c is no URL'],
])('redactSecrets(%p)', (input, expected) => {
  expect(redactSecrets(input)).toBe(expected);
});

test('every log line goes out without a URL password', () => {
  const { logger, text } = capture();
  logger.warn(
    { err: new Error('connect to postgres://idem:hunter2@db/idem failed') },
    'at postgres://u:hunter2@x/y',
  );
  expect(text()).toContain('postgres://idem:***@db/idem');
  expect(text()).not.toContain('hunter2');
});

test('throttledWarn logs the first failure, then one per interval with how many it left out', () => {
  const { logger, text } = capture();
  let now = 0;
  const warn = throttledWarn(logger, 'store poll failed', 10_000, () => now);
  for (let i = 0; i < 500; i++) {
    warn(new Error('down'));
    now += 20;
  }
  const lines = text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; suppressed?: number });
  expect(lines).toHaveLength(1);
  now = 10_000;
  warn(new Error('down'));
  const last = JSON.parse(text().trim().split('\n').pop() as string) as { suppressed?: number };
  expect(last.suppressed).toBe(499);
});
