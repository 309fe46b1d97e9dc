import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfig, parseEnvFile, resolveEnv } from '../../src/config';

test('defaults point at the local stack', () => {
  const c = parseConfig({ IDEM_CACHE_DIR: '/tmp/x' });
  expect(c.kafka).toMatchObject({ brokers: ['127.0.0.1:29092'], topics: ['events'], groupId: 'idem' });
  expect(c.temporal).toMatchObject({
    address: '127.0.0.1:27233',
    namespace: 'default',
    taskQueue: 'idem-events',
  });
  expect(c.ingest).toMatchObject({ ordering: true, maxInFlight: 250, maxEventBytes: 262_144 });
  expect(c.cacheDir).toBe('/tmp/x');
  // No handler module unless one is named: idem applies no event type of its own.
  expect(c.handlers).toBeUndefined();
  expect(c.stack).toEqual({ timeoutMs: 900_000, stallMs: 180_000 });
});

test('the workflow shape and the worker slots: lean by default, each part a setting', () => {
  const lean = parseConfig({});
  expect(lean.ingest).toMatchObject({ eagerStart: true, startConcurrency: 8 });
  expect(lean.workflow).toEqual({ applyAs: 'local', upsertApplied: false });
  expect(lean.worker).toEqual({
    workflowTaskSlots: 100,
    localActivitySlots: 40,
    maxCachedWorkflows: 200,
    warmUpWorkflows: 16,
    reconcile: { intervalMs: 30_000, lookBackMs: 86_400_000 },
  });
  expect(parseConfig({ IDEM_RECONCILE_INTERVAL_MS: '0' }).worker.reconcile.intervalMs).toBe(0);
  expect(parseConfig({ IDEM_WARM_UP_WORKFLOWS: '0' }).worker.warmUpWorkflows).toBe(0);
  expect(() => parseConfig({ IDEM_WARM_UP_WORKFLOWS: '-1' })).toThrow(
    /IDEM_WARM_UP_WORKFLOWS.*expected 0 \(off\) or more workflows/,
  );
  const c = parseConfig({
    IDEM_EAGER_START: 'false',
    IDEM_APPLY_AS: 'regular',
    IDEM_UPSERT_APPLIED: 'true',
    IDEM_WORKFLOW_TASK_SLOTS: '10',
    IDEM_LOCAL_ACTIVITY_SLOTS: '20',
    IDEM_MAX_CACHED_WORKFLOWS: '30',
  });
  expect(c.ingest.eagerStart).toBe(false);
  expect(c.workflow).toEqual({ applyAs: 'regular', upsertApplied: true });
  expect(c.worker).toMatchObject({ workflowTaskSlots: 10, localActivitySlots: 20, maxCachedWorkflows: 30 });
});

test('the ingester bounds: window by count and bytes, unsettled events, start deadline', () => {
  expect(parseConfig({}).ingest).toMatchObject({
    maxInFlight: 250,
    maxInFlightBytes: 4_194_304,
    maxUnsettled: 1000,
    startTimeoutMs: 10_000,
    fetchMaxWaitMs: 500,
  });
  expect(parseConfig({ IDEM_FETCH_MAX_WAIT_MS: '100' }).ingest.fetchMaxWaitMs).toBe(100);
  expect(() => parseConfig({ IDEM_FETCH_MAX_WAIT_MS: '60000' })).toThrow(/IDEM_FETCH_MAX_WAIT_MS.*30000/);
  const c = parseConfig({
    IDEM_MAX_IN_FLIGHT_BYTES: '1048576',
    IDEM_MAX_UNSETTLED: '50',
    IDEM_START_TIMEOUT_MS: '2500',
  });
  expect(c.ingest).toMatchObject({ maxInFlightBytes: 1_048_576, maxUnsettled: 50, startTimeoutMs: 2500 });
  // The whole window: twice the records not handed off unless set, never below them.
  expect(parseConfig({}).ingest.maxWindow).toBe(500);
  expect(parseConfig({ IDEM_MAX_IN_FLIGHT: '100' }).ingest.maxWindow).toBe(200);
  expect(parseConfig({ IDEM_MAX_WINDOW: '2000' }).ingest.maxWindow).toBe(2000);
  expect(() => parseConfig({ IDEM_MAX_WINDOW: '100' })).toThrow(
    /IDEM_MAX_WINDOW \(100\) must be at least IDEM_MAX_IN_FLIGHT \(250\)[\s\S]*Raise IDEM_MAX_WINDOW/,
  );
});

test('key parking is on with ordering, and never without it', () => {
  expect(parseConfig({}).ingest.keyParking).toBe(true);
  expect(parseConfig({ IDEM_KEY_PARKING: 'false' }).ingest.keyParking).toBe(false);
  expect(parseConfig({ IDEM_ORDERING: 'false' }).ingest.keyParking).toBe(false);
});

test('the handler module and the stack limits come from the environment', () => {
  const c = parseConfig({
    IDEM_HANDLERS: './dist/handlers',
    IDEM_STACK_TIMEOUT: '60',
    IDEM_STACK_STALL_TIMEOUT: '5',
  });
  expect(c.handlers).toBe('./dist/handlers');
  expect(c.stack).toEqual({ timeoutMs: 60_000, stallMs: 5_000 });
});

test('values are parsed and lists split', () => {
  const c = parseConfig({
    KAFKA_BROKERS: 'a:1, b:2',
    KAFKA_TOPICS: 'x,y',
    IDEM_ORDERING: 'off',
    IDEM_MAX_ATTEMPTS: '7',
  });
  expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
  expect(c.kafka.topics).toEqual(['x', 'y']);
  expect(c.ingest.ordering).toBe(false);
  expect(c.retry.maxAttempts).toBe(7);
});

test.each([
  [
    'KAFKA_BROKERS',
    'localhost',
    /KAFKA_BROKERS: expected host:port, for example 127.0.0.1:9092 \(got "localhost"\)/,
  ],
  ['TEMPORAL_ADDRESS', 'nope', /TEMPORAL_ADDRESS: expected host:port/],
  ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres:\/\/ URL/],
  ['IDEM_MAX_ATTEMPTS', 'zero', /IDEM_MAX_ATTEMPTS: expected a number of attempts/],
  ['IDEM_MAX_ATTEMPTS', '0', /IDEM_MAX_ATTEMPTS: expected a number of attempts greater than 0/],
  ['IDEM_STACK_TIMEOUT', '0', /IDEM_STACK_TIMEOUT: expected a number of seconds greater than 0/],
  ['IDEM_STACK_STALL_TIMEOUT', '1m', /IDEM_STACK_STALL_TIMEOUT: expected a number of seconds/],
  ['IDEM_ORDERING', 'maybe', /IDEM_ORDERING: expected true or false/],
  ['IDEM_APPLY_AS', 'remote', /IDEM_APPLY_AS: expected local or regular/],
  ['IDEM_WORKFLOW_TASK_SLOTS', '0', /IDEM_WORKFLOW_TASK_SLOTS: expected a number of slots greater than 0/],
  ['IDEM_MAX_IN_FLIGHT_BYTES', '4MB', /IDEM_MAX_IN_FLIGHT_BYTES: expected a size in bytes/],
  ['IDEM_MAX_UNSETTLED', '0', /IDEM_MAX_UNSETTLED: expected a number of events greater than 0/],
  ['IDEM_START_TIMEOUT_MS', '-5', /IDEM_START_TIMEOUT_MS: expected milliseconds/],
  ['IDEM_MAX_EVENT_BYTES', '3000000', /must be at most 1500000/],
  ['KAFKA_TOPICS', 'bad topic', /KAFKA_TOPICS: expected a Kafka topic name/],
])('%s=%s stops start-up with a message that names the variable', (name, value, message) => {
  expect(() => parseConfig({ [name]: value })).toThrow(ConfigError);
  expect(() => parseConfig({ [name]: value })).toThrow(message);
});

test('an invalid DATABASE_URL is quoted without its password', () => {
  expect(() => parseConfig({ DATABASE_URL: 'mysql://idem:hunter2@db/idem' })).toThrow(
    /DATABASE_URL: expected a postgres:\/\/ URL.*\(got "mysql:\/\/idem:\*\*\*@db\/idem"\)/,
  );
  expect(() => parseConfig({ DATABASE_URL: 'mysql://idem:hunter2@db/idem' })).not.toThrow(/hunter2/);
});

test('the attempt timeout must outlast the PostgreSQL timeouts, or an outage would dead-letter', () => {
  expect(() =>
    parseConfig({ IDEM_ATTEMPT_TIMEOUT_MS: '20000', IDEM_PG_STATEMENT_TIMEOUT_MS: '20000' }),
  ).toThrow(
    /IDEM_ATTEMPT_TIMEOUT_MS \(20000\) must exceed both IDEM_PG_STATEMENT_TIMEOUT_MS plus its no-answer margin \(24000\)/,
  );
  expect(parseConfig({}).database).toMatchObject({
    statementTimeoutMs: 18_000,
    queryTimeoutMs: 23_000,
    connectTimeoutMs: 10_000,
    lockTimeoutMs: 9_000,
    idleInTransactionTimeoutMs: 30_000,
  });
  // Unset, they follow a short attempt timeout.
  expect(parseConfig({ IDEM_ATTEMPT_TIMEOUT_MS: '5000' }).database).toMatchObject({
    statementTimeoutMs: 3_000,
    queryTimeoutMs: 4_000,
    connectTimeoutMs: 2_500,
  });
  expect(
    parseConfig({ IDEM_ATTEMPT_TIMEOUT_MS: '20000', IDEM_PG_STATEMENT_TIMEOUT_MS: '10000' }).database,
  ).toMatchObject({
    statementTimeoutMs: 10_000,
    lockTimeoutMs: 5_000,
    connectTimeoutMs: 10_000,
  });
});

test('a lock wait must end as a lock timeout, before the statement timeout', () => {
  // A claim held by a frozen worker's transaction is told apart by lock_timeout (the event waits);
  // cut by statement_timeout first, it would count as the handler's failure.
  expect(() => parseConfig({ IDEM_PG_LOCK_TIMEOUT_MS: '18000' })).toThrow(
    /IDEM_PG_LOCK_TIMEOUT_MS \(18000\) must be below the statement timeout \(18000/,
  );
  expect(parseConfig({ IDEM_PG_LOCK_TIMEOUT_MS: '2000' }).database.lockTimeoutMs).toBe(2_000);
});

test('every bad variable is reported at once, with how to fix it', () => {
  const err = (() => {
    try {
      parseConfig({ KAFKA_BROKERS: 'x', IDEM_MAX_ATTEMPTS: '-1' });
    } catch (e) {
      return e as Error;
    }
  })();
  expect(err?.message).toMatch(/KAFKA_BROKERS/);
  expect(err?.message).toMatch(/IDEM_MAX_ATTEMPTS/);
  expect(err?.message).toMatch(/docs\/configuration\.md/);
});

test('retry intervals must be consistent', () => {
  expect(() => parseConfig({ IDEM_RETRY_INITIAL_MS: '5000', IDEM_RETRY_MAX_MS: '1000' })).toThrow(
    /must not exceed/,
  );
});

test('precedence: environment over .env over the stack file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-config-'));
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(cache);
  fs.writeFileSync(
    path.join(cache, 'stack.env'),
    'KAFKA_BROKERS=stack:1\nTEMPORAL_ADDRESS=stack:2\nDATABASE_URL=postgres://stack/db\n',
  );
  fs.writeFileSync(
    path.join(dir, '.env'),
    '# comment\nexport TEMPORAL_ADDRESS="dotenv:3"\nDATABASE_URL=postgres://dotenv/db\n',
  );
  const env = resolveEnv({ IDEM_CACHE_DIR: cache, DATABASE_URL: 'postgres://process/db' }, dir);
  expect(env.KAFKA_BROKERS).toBe('stack:1');
  expect(env.TEMPORAL_ADDRESS).toBe('dotenv:3');
  expect(env.DATABASE_URL).toBe('postgres://process/db');
});

test('env files: export prefix, quotes, comments', () => {
  expect(parseEnvFile('export A=1\nB="two words"\n# C=3\nD=\'x\'\n')).toEqual({
    A: '1',
    B: 'two words',
    D: 'x',
  });
});

test.each([
  ['IDEM_METRICS_PORT', 'abc', /IDEM_METRICS_PORT: expected a port number/],
  ['IDEM_METRICS_PORT', '70000', /IDEM_METRICS_PORT: expected a port number from 0 to 65535/],
  ['IDEM_LOG_LEVEL', 'loud', /IDEM_LOG_LEVEL: expected one of fatal, error/],
])('%s=%s says what is expected', (name, value, message) => {
  expect(() => parseConfig({ [name]: value })).toThrow(message);
});
