/**
 * Every environment variable idem reads, parsed and validated once at start-up.
 * Nothing else in idem reads `process.env` (the stack's child processes get an
 * explicit environment).
 *
 * Precedence, highest first: the process environment, a `.env` file in the
 * working directory, the file `idem stack up` writes (`<cache>/stack.env`), the
 * defaults below.
 */
import type { WorkflowShape } from './workflows/types';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

import { redactSecrets, registerSecret } from './observability/redact';
import { ConfigError } from './errors';
import { parseRetention } from './prune/duration';
import type { KafkaSaslSettings, KafkaTlsSettings } from './kafka/security';
import { pgTlsProblems } from './store/tls';
import type { TemporalTlsSettings } from './temporal/connection';
import { parseEncryptionKeys, type EncryptionKey } from './temporal/encryption-codec';
import {
  TRACING_SECRET_VARIABLES,
  tracingSchema,
  tracingSettings,
  type TracingSettings,
} from './observability/tracing-config';

export { ConfigError };

const positiveInt = (what: string) =>
  z.coerce
    .number({ message: `expected ${what}` })
    .int({ message: `expected ${what} (a whole number)` })
    .positive({ message: `expected ${what} greater than 0` });

/** An interval in milliseconds, 0 turning the job off. */
const intervalOrOff = z.coerce
  .number({ message: 'expected milliseconds' })
  .int({ message: 'expected milliseconds (a whole number)' })
  .min(0, { message: 'expected 0 (off) or more milliseconds' });

const bool = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' }))
  .transform((s) => ['true', '1', 'yes', 'on'].includes(s));

const hostPort = (example: string) =>
  z.string().regex(/^[^\s:/]+:\d{1,5}$/, { message: `expected host:port, for example ${example}` });

const topicName = z
  .string()
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, { message: 'expected a Kafka topic name (letters, digits, . _ -)' });

/** The path of a file idem can read (a PEM certificate or key, a key list). */
const readableFile = z.string().superRefine((file, ctx) => {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    ctx.addIssue({
      code: 'custom',
      message: `cannot read this file (${why}): expected the path of a readable file`,
    });
  }
});

/** A payload encryption key list (src/temporal/encryption-codec.ts); its problems, never its keys. */
const keyList = z.string().transform((text, ctx): EncryptionKey[] => {
  const parsed = parseEncryptionKeys(text);
  if ('keys' in parsed) return parsed.keys;
  for (const problem of parsed.problems) ctx.addIssue({ code: 'custom', message: problem });
  return z.NEVER;
});

/** Variables whose values no message quotes and no log line shows. */
const SECRET_VARIABLES = new Set([
  'IDEM_ENCRYPTION_KEYS',
  'KAFKA_SASL_PASSWORD',
  'IDEM_CODEC_TOKEN',
  ...TRACING_SECRET_VARIABLES,
]);

/** The schema: variable name → parser. Defaults are documented in docs/configuration.md. */
const schema = z.object({
  /** Comma-separated Kafka bootstrap servers. @default 127.0.0.1:29092 (the local stack) */
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:29092')
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(hostPort('127.0.0.1:9092'))
        .min(1, { message: 'expected at least one broker, for example 127.0.0.1:9092' }),
    ),
  /** Comma-separated topics to consume. Each gets a dead-letter topic `<topic>.dlq`. @default events */
  KAFKA_TOPICS: z
    .string()
    .default('events')
    .transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    )
    .pipe(z.array(topicName).min(1, { message: 'expected at least one topic' })),
  /** Kafka consumer group of the ingester. @default idem */
  KAFKA_GROUP_ID: z.string().min(1).default('idem'),
  /** Kafka client id. @default idem */
  KAFKA_CLIENT_ID: z.string().min(1).default('idem'),
  /** Topic the outbox relay publishes to. @default events.outbox */
  IDEM_OUTBOX_TOPIC: topicName.default('events.outbox'),
  /** TLS to the brokers: `true` trusts the system's CAs; any KAFKA_SSL_*_PATH turns it on. @default false */
  KAFKA_SSL: bool.optional(),
  /** PEM file of the CA(s) the brokers' certificates chain to, instead of the system's. */
  KAFKA_SSL_CA_PATH: readableFile.optional(),
  /** PEM client certificate (mTLS), with KAFKA_SSL_KEY_PATH. */
  KAFKA_SSL_CERT_PATH: readableFile.optional(),
  /** PEM private key of KAFKA_SSL_CERT_PATH. */
  KAFKA_SSL_KEY_PATH: readableFile.optional(),
  /** SASL: plain, scram-sha-256 or scram-sha-512, with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD. */
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(
      z.enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
        message: 'expected plain, scram-sha-256 or scram-sha-512',
      }),
    )
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  /** Never quoted in a message nor shown in a log line. */
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),

  /** The module with your event handlers (a path or package name), loaded by `idem consume` and
   * `idem worker`; `--handlers` overrides it. No default: idem applies no event type of its own. */
  IDEM_HANDLERS: z.string().min(1).optional(),

  /** Temporal frontend address. @default 127.0.0.1:27233 (the local stack) */
  TEMPORAL_ADDRESS: hostPort('127.0.0.1:7233').default('127.0.0.1:27233'),
  /** @default default */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** @default idem-events */
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('idem-events'),
  /** Temporal Web URL, shown to operators. @default http://127.0.0.1:28233 */
  TEMPORAL_WEB_URL: z
    .url({ message: 'expected a URL, for example http://127.0.0.1:8233' })
    .default('http://127.0.0.1:28233'),
  /** TLS to Temporal (the names of Temporal's own client configuration): `true` trusts the system's
   * CAs; any TEMPORAL_TLS_* setting turns it on. @default false */
  TEMPORAL_TLS: bool.optional(),
  /** PEM file of the CA the frontend's certificate chains to, instead of the system's. */
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: readableFile.optional(),
  /** PEM client certificate (mTLS), with TEMPORAL_TLS_CLIENT_KEY_PATH. */
  TEMPORAL_TLS_CLIENT_CERT_PATH: readableFile.optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: readableFile.optional(),
  /** Name checked against the frontend's certificate (and sent as SNI) instead of the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),

  /** Payload encryption keys, `id:base64` of 32 bytes each, comma-separated: the first encrypts, all
   * decrypt (rotation). Unset (and no IDEM_ENCRYPTION_KEYS_FILE): payloads go to Temporal as they are. */
  IDEM_ENCRYPTION_KEYS: keyList.optional(),
  /** A file with the same list (one entry per line, `#` comments), instead of IDEM_ENCRYPTION_KEYS. */
  IDEM_ENCRYPTION_KEYS_FILE: readableFile.optional(),
  /** Bearer token `idem codec-server` requires in `Authorization`. */
  IDEM_CODEC_TOKEN: z
    .string()
    .min(16, { message: 'expected at least 16 characters, for example $(openssl rand -hex 32)' })
    .optional(),
  /** Address `idem codec-server` listens on. @default 127.0.0.1 */
  IDEM_CODEC_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of `idem codec-server`. @default 28888 */
  IDEM_CODEC_PORT: z.coerce
    .number({ message: 'expected a port number' })
    .int({ message: 'expected a port number' })
    .min(1, { message: 'expected a port number from 1 to 65535' })
    .max(65535, { message: 'expected a port number from 1 to 65535' })
    .default(28888),
  /** Browser origins allowed to call `idem codec-server` (CORS), comma-separated.
   * @default the origin of TEMPORAL_WEB_URL */
  IDEM_CODEC_CORS_ORIGINS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ message: 'expected origins like http://127.0.0.1:8233' })).min(1))
    .optional(),

  /** PostgreSQL connection string. @default postgres://postgres@127.0.0.1:25432/idem (the local stack) */
  DATABASE_URL: z
    .string()
    .default('postgres://postgres@127.0.0.1:25432/idem')
    .refine((s) => /^postgres(ql)?:\/\//.test(s), {
      message: 'expected a postgres:// URL, for example postgres://user:password@host:5432/dbname',
    })
    // TLS: libpq's sslmode, sslrootcert, sslcert, sslkey (src/store/tls.ts)
    .superRefine((url, ctx) => {
      for (const message of pgTlsProblems(url)) ctx.addIssue({ code: 'custom', message });
    }),
  /** Maximum connections of the PostgreSQL pool. @default 10 */
  IDEM_PG_POOL_SIZE: positiveInt('a pool size').default(10),
  /** How long opening a PostgreSQL connection may take, in milliseconds.
   * @default min(10000, IDEM_ATTEMPT_TIMEOUT_MS / 2) */
  IDEM_PG_CONNECT_TIMEOUT_MS: positiveInt('milliseconds').optional(),
  /** PostgreSQL's statement_timeout of idem's sessions (a handler's statement included), in
   * milliseconds. A statement without any answer from the server (packets dropped, server
   * frozen) fails a margin after it (min(5 s, a fifth of the attempt timeout)), as a store outage.
   * @default min(20000, IDEM_ATTEMPT_TIMEOUT_MS × 0.6) */
  IDEM_PG_STATEMENT_TIMEOUT_MS: positiveInt('milliseconds').optional(),
  /** PostgreSQL's lock_timeout of idem's sessions, in milliseconds; below the statement timeout,
   * so a wait for a lock ends as a lock timeout (an event whose claim another attempt holds waits
   * without dead-lettering; see applyEvent). @default min(10000, statement timeout / 2) */
  IDEM_PG_LOCK_TIMEOUT_MS: positiveInt('milliseconds').optional(),

  /** Largest accepted Kafka message value in bytes; larger ones are dead-lettered as too_large.
   * Temporal warns on payloads over 256 KiB and fails at 2 MiB. @default 262144 */
  IDEM_MAX_EVENT_BYTES: positiveInt('a size in bytes')
    .max(1_500_000, {
      message: 'must be at most 1500000: Temporal rejects payloads over 2 MiB',
    })
    .default(262_144),
  /** Per-partition in-flight window of the ingester (messages read but not yet committed). @default 250 */
  IDEM_MAX_IN_FLIGHT: positiveInt('a number of messages').default(250),
  /** Per-partition bound on the whole window: records read and not committed yet, handed off or
   * not (an open record holds the ones behind it); how far reading runs ahead of the oldest
   * record still open, and what a crash reads again. At least IDEM_MAX_IN_FLIGHT.
   * @default 2 × IDEM_MAX_IN_FLIGHT */
  IDEM_MAX_WINDOW: positiveInt('a number of messages').optional(),
  /** Per-partition bound on the bytes (key, value and headers) of records read and not yet
   * handed off; a partition whose window is full by count or bytes is paused. @default 4194304 */
  IDEM_MAX_IN_FLIGHT_BYTES: positiveInt('a size in bytes').default(4_194_304),
  /** Per-process bound on events whose workflow this process started and that have not settled
   * yet (effect committed or dead-lettered): the ingester slows down with the workers instead of
   * piling up workflows. @default 1000 */
  IDEM_MAX_UNSETTLED: positiveInt('a number of events').default(1000),
  /** Deadline of one workflow start call in milliseconds; a start that times out is retried
   * (a start that did reach Temporal then comes back as a duplicate). @default 10000 */
  IDEM_START_TIMEOUT_MS: positiveInt('milliseconds').default(10_000),
  /** Per-key ordering within a partition. @default true */
  IDEM_ORDERING: bool.default(true),
  /** With ordering: a dead-lettered event parks its key's later events until it is redriven or
   * skipped. @default true */
  IDEM_KEY_PARKING: bool.default(true),
  /** Attempts of applyEvent before an event is dead-lettered. @default 5 */
  IDEM_MAX_ATTEMPTS: positiveInt('a number of attempts').default(5),
  /** First retry interval of applyEvent, in milliseconds (doubles each attempt). @default 1000 */
  IDEM_RETRY_INITIAL_MS: positiveInt('milliseconds').default(1000),
  /** Longest retry interval of applyEvent, in milliseconds. @default 60000 */
  IDEM_RETRY_MAX_MS: positiveInt('milliseconds').default(60_000),
  /** Timeout of one applyEvent attempt in milliseconds; a crashed worker's attempt is retried after it. @default 30000 */
  IDEM_ATTEMPT_TIMEOUT_MS: positiveInt('milliseconds').default(30_000),
  /** Before starting workflows for a fetched batch, ask the store (one query) which of its events
   * are already applied and skip those without a Temporal call. Only where the process has the
   * store (`idem consume`). Correctness never rests on it. @default true */
  IDEM_SKIP_APPLIED: bool.default(true),
  /** Start event workflows eagerly where the ingester shares a process with a worker
   * (`idem consume`): the first workflow task comes back with the start's answer. @default true */
  IDEM_EAGER_START: bool.default(true),
  /** How the workflow runs applyEvent: `local` (a local activity, the lean shape) or `regular`
   * (an activity task through Temporal's matching: for handlers that run for minutes). @default local */
  IDEM_APPLY_AS: z.enum(['local', 'regular'], { message: 'expected local or regular' }).default('local'),
  /** Also record IdemOutcome = "applied" on plain success (one more history event per event),
   * so Temporal Web can list applied events by it. @default false */
  IDEM_UPSERT_APPLIED: bool.default(false),
  /** Workflow tasks a worker runs at once (the Temporal SDK's maxConcurrentWorkflowTaskExecutions);
   * with applyEvent local, a task lasts as long as the apply. An eager start needs a free slot
   * when it is sent, or the start goes through matching (several times the server's work): with
   * 40, 3–28 % of a saturated `idem consume`'s starts fell back to matching, with 100, 0–6 %,
   * mostly in its first seconds (docs/performance.md). Concurrent applies stay bounded by IDEM_LOCAL_ACTIVITY_SLOTS.
   * @default 100 */
  IDEM_WORKFLOW_TASK_SLOTS: positiveInt('a number of slots').default(100),
  /** Local activities (applyEvent) a worker runs at once. @default 40 */
  IDEM_LOCAL_ACTIVITY_SLOTS: positiveInt('a number of slots').default(40),
  /** Workflow runs a worker keeps cached (sticky). Event workflows are short: a small cache does;
   * the SDK's default grows with the heap limit (thousands on a large machine). @default 200 */
  IDEM_MAX_CACHED_WORKFLOWS: positiveInt('a number of workflows').default(200),
  /** How often a worker looks for event workflows that were terminated (or timed out) before they
   * applied their event, and dead-letters those events (reason terminated); 0 turns it off.
   * @default 30000 */
  IDEM_RECONCILE_INTERVAL_MS: intervalOrOff.default(30_000),
  /** How far back each look goes (by the workflow's close time). @default 86400000 (a day) */
  IDEM_RECONCILE_LOOKBACK_MS: positiveInt('milliseconds').default(86_400_000),
  /** Concurrent workflow starts of the ingester. More only queue inside Temporal: on the
   * reference machine 4–8 drained a backlog faster than 64 (docs/performance.md). @default 8 */
  IDEM_START_CONCURRENCY: positiveInt('a number').default(8),
  /** Warm-up workflows a worker runs before its process takes events, 4 at a time
   * (src/temporal/warm-up.ts); 0 turns the warm-up off. @default 16 */
  IDEM_WARM_UP_WORKFLOWS: z.coerce
    .number({ message: 'expected a number of workflows' })
    .int({ message: 'expected a number of workflows (a whole number)' })
    .min(0, { message: 'expected 0 (off) or more workflows' })
    .max(1000, { message: 'expected at most 1000 workflows' })
    .default(16),
  /** Longest wait of one Kafka fetch for new records, in milliseconds (the Java client's
   * fetch.max.wait.ms). kafkajs also sleeps this long when every partition of the process is
   * paused (windows full), and a resumed partition is read only after that sleep: kafkajs'
   * 5000 stalled a backlog of duplicates for seconds at a time (docs/performance.md). @default 500 */
  IDEM_FETCH_MAX_WAIT_MS: positiveInt('milliseconds')
    .max(30_000, { message: 'must be at most 30000' })
    .default(500),

  /** How long processed_events keeps an event's row (the store's dedup window; `idem prune`
   * deletes older rows): at least the Temporal namespace's retention (checked at start), and more
   * than how far back a Kafka replay can read. `30d`, `720h`, `1d12h`. @default 30d */
  IDEM_DEDUP_RETENTION: z
    .string()
    .default('30d')
    .transform((s, ctx) => {
      const ms = parseRetention(s);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30d, 720h or 1d12h' });
        return z.NEVER;
      }
      return ms;
    }),
  /** Rows `idem prune` deletes per statement (one short transaction each). @default 5000 */
  IDEM_PRUNE_BATCH_SIZE: positiveInt('a number of rows')
    .max(100_000, { message: 'expected at most 100000 rows' })
    .default(5000),

  /** Port of the Prometheus /metrics endpoint; 0 turns it off. @default 9464 */
  IDEM_METRICS_PORT: z.coerce
    .number({ message: 'expected a port number (0 turns /metrics off)' })
    .int({ message: 'expected a port number (0 turns /metrics off)' })
    .min(0, { message: 'expected a port number from 0 to 65535' })
    .max(65535, { message: 'expected a port number from 0 to 65535' })
    .default(9464),
  /** Port of the Temporal SDK's own Prometheus exporter (`temporal_*` metrics of the worker and
   * its connection), bound on 127.0.0.1 only: idem's /metrics appends what it serves, so one
   * scrape gets both. Unset: a free port chosen at start; 0: the SDK's metrics off. */
  IDEM_TEMPORAL_METRICS_PORT: z.coerce
    .number({ message: 'expected a port number (0 turns the SDK metrics off)' })
    .int({ message: 'expected a port number (0 turns the SDK metrics off)' })
    .min(0, { message: 'expected a port number from 0 to 65535' })
    .max(65535, { message: 'expected a port number from 0 to 65535' })
    .optional(),
  /** How often sampled gauges are refreshed: the ingester's consumer lag (asked of the broker)
   * and the relay's outbox backlog (one count). @default 10000 */
  IDEM_METRICS_SAMPLE_INTERVAL_MS: positiveInt('milliseconds').default(10_000),
  /** An event workflow still running this long after it started is stuck (idem_stuck_events,
   * `idem stuck`, `idem status`). @default 300000 (5 minutes) */
  IDEM_STUCK_AFTER_MS: positiveInt('milliseconds').default(300_000),
  /** How often a worker's stuck-event scanner asks Temporal's visibility; 0 turns it off.
   * @default 30000 */
  IDEM_STUCK_INTERVAL_MS: intervalOrOff.default(30_000),
  /** pino log level. @default info */
  IDEM_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** Longest wait, in seconds, for one server of the local stack (`idem stack up`) to become ready,
   * however busy it looks. @default 900 */
  IDEM_STACK_TIMEOUT: positiveInt('a number of seconds').default(900),
  /** Seconds a starting server of the local stack may go without any sign of progress (no CPU
   * time used, no log written) before `idem stack up` gives up on it. @default 180 */
  IDEM_STACK_STALL_TIMEOUT: positiveInt('a number of seconds').default(180),
  /** Where binaries, jars and local data live. @default $XDG_CACHE_HOME/idem or ~/.cache/idem */
  IDEM_CACHE_DIR: z.string().min(1).optional(),

  /** OpenTelemetry tracing: OpenTelemetry's own variables (src/observability/tracing-config.ts). */
  ...tracingSchema,
});

type Parsed = z.infer<typeof schema>;

export interface Config {
  kafka: {
    brokers: string[];
    topics: string[];
    groupId: string;
    clientId: string;
    outboxTopic: string;
    /** TLS to the brokers; none: plaintext. */
    ssl?: KafkaTlsSettings;
    sasl?: KafkaSaslSettings;
  };
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    webUrl: string;
    /** TLS to the frontend; none: plaintext. */
    tls?: TemporalTlsSettings;
  };
  /** Payload encryption (IDEM_ENCRYPTION_KEYS[_FILE]): the first key encrypts, all decrypt. */
  encryption?: { keys: EncryptionKey[] };
  /** `idem codec-server`. */
  codecServer: { host: string; port: number; token?: string; corsOrigins: string[] };
  database: {
    url: string;
    poolSize: number;
    connectTimeoutMs: number;
    statementTimeoutMs: number;
    /** The client's wait for any answer to a statement (statement timeout + margin). */
    queryTimeoutMs: number;
    lockTimeoutMs: number;
    /** A transaction idle for longer than a whole attempt belongs to an attempt Temporal has
     * given up on (its worker froze or lost its connection): the server ends it and its locks go. */
    idleInTransactionTimeoutMs: number;
  };
  ingest: {
    maxEventBytes: number;
    maxInFlight: number;
    /** IDEM_MAX_WINDOW, or 2 × maxInFlight. */
    maxWindow: number;
    maxInFlightBytes: number;
    maxUnsettled: number;
    startTimeoutMs: number;
    ordering: boolean;
    /** Key parking; only with ordering (false when ordering is off). */
    keyParking: boolean;
    startConcurrency: number;
    /** kafkajs' maxWaitTimeInMs: a fetch's long poll, and its sleep while every partition is paused. */
    fetchMaxWaitMs: number;
    skipApplied: boolean;
    eagerStart: boolean;
  };
  retry: { maxAttempts: number; initialIntervalMs: number; maxIntervalMs: number; attemptTimeoutMs: number };
  /** The Temporal worker's slots and cache. */
  worker: {
    workflowTaskSlots: number;
    localActivitySlots: number;
    maxCachedWorkflows: number;
    /** Warm-up workflows before the process takes events (0: none). */
    warmUpWorkflows: number;
    /** The terminated-runs reconciler (src/reconcile/closed-runs.ts); interval 0: off. */
    reconcile: { intervalMs: number; lookBackMs: number };
  };
  /** The store's dedup window and its pruning (`idem prune`). */
  dedup: { retentionMs: number; pruneBatchSize: number };
  /** The event workflow's shape (IDEM_APPLY_AS, IDEM_UPSERT_APPLIED). */
  workflow: WorkflowShape;
  /** `IDEM_HANDLERS`: the handler module, if configured. */
  handlers?: string;
  metricsPort: number;
  /** Sampled gauges, the stuck-event scanner, the Temporal SDK's metrics. */
  monitoring: {
    sampleIntervalMs: number;
    stuckAfterMs: number;
    /** 0: the worker runs no scanner. */
    stuckIntervalMs: number;
    /** Loopback port of the SDK's exporter; undefined: a free one; 0: off. */
    temporalMetricsPort: number | undefined;
  };
  logLevel: Parsed['IDEM_LOG_LEVEL'];
  cacheDir: string;
  /** Readiness limits of the local stack's servers (`idem stack up`). */
  stack: { timeoutMs: number; stallMs: number };
  /** OpenTelemetry tracing; undefined (no OTLP endpoint configured): off, nothing installed. */
  tracing?: TracingSettings;
}

export type Env = Record<string, string | undefined>;

export function defaultCacheDir(env: Env): string {
  if (env.IDEM_CACHE_DIR) return path.resolve(env.IDEM_CACHE_DIR);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'idem');
}

/** The file `idem stack up` writes and every other command reads. */
export function stackEnvFile(cacheDir: string): string {
  return path.join(cacheDir, 'stack.env');
}

/** Reads `NAME=value` lines (optionally `export NAME=value`, quotes allowed, # comments). */
export function parseEnvFile(text: string): Env {
  const out: Env = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    let value = m[2] ?? '';
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    out[m[1] as string] = value;
  }
  return out;
}

function readEnvFile(file: string): Env {
  try {
    return parseEnvFile(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/** Merges the layers into one environment (highest precedence last). */
export function resolveEnv(processEnv: Env = process.env, cwd = process.cwd()): Env {
  const dotenv = readEnvFile(path.join(cwd, '.env'));
  const cacheDir = defaultCacheDir({ ...dotenv, ...processEnv });
  const stack = readEnvFile(stackEnvFile(cacheDir));
  const merged: Env = { ...stack, ...dotenv };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined && v !== '') merged[k] = v;
  return merged;
}

/** DATABASE_URL as the user set it (environment or .env), ignoring the stack file:
 * when set, `idem stack up` uses that server instead of starting its own. */
export function userDatabaseUrl(processEnv: Env = process.env, cwd = process.cwd()): string | undefined {
  return processEnv.DATABASE_URL || readEnvFile(path.join(cwd, '.env')).DATABASE_URL || undefined;
}

/**
 * TLS, SASL and encryption settings that depend on one another, each problem with its fix. The
 * secrets are registered for redaction here, so that no log line can show them.
 */
function securitySettings(c: Parsed):
  | { problems: string[] }
  | {
      kafka: { ssl?: KafkaTlsSettings; sasl?: KafkaSaslSettings };
      temporalTls?: TemporalTlsSettings;
      keys?: EncryptionKey[];
    } {
  const problems: string[] = [];
  // Kafka TLS and SASL
  const kafkaPaths = {
    caPath: c.KAFKA_SSL_CA_PATH,
    certPath: c.KAFKA_SSL_CERT_PATH,
    keyPath: c.KAFKA_SSL_KEY_PATH,
  };
  const anyKafkaPath = Object.values(kafkaPaths).some(Boolean);
  if (c.KAFKA_SSL === false && anyKafkaPath)
    problems.push('KAFKA_SSL is false but KAFKA_SSL_*_PATH is set: remove the paths, or set KAFKA_SSL=true');
  if (Boolean(c.KAFKA_SSL_CERT_PATH) !== Boolean(c.KAFKA_SSL_KEY_PATH))
    problems.push(
      'KAFKA_SSL_CERT_PATH and KAFKA_SSL_KEY_PATH go together (a client certificate and its key)',
    );
  const saslParts = [c.KAFKA_SASL_MECHANISM, c.KAFKA_SASL_USERNAME, c.KAFKA_SASL_PASSWORD];
  if (saslParts.some(Boolean) && !saslParts.every(Boolean))
    problems.push(
      'SASL needs all of KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
    );
  // Temporal TLS
  const temporalTls: TemporalTlsSettings = {
    ...(c.TEMPORAL_TLS_SERVER_CA_CERT_PATH ? { serverCaCertPath: c.TEMPORAL_TLS_SERVER_CA_CERT_PATH } : {}),
    ...(c.TEMPORAL_TLS_CLIENT_CERT_PATH ? { clientCertPath: c.TEMPORAL_TLS_CLIENT_CERT_PATH } : {}),
    ...(c.TEMPORAL_TLS_CLIENT_KEY_PATH ? { clientKeyPath: c.TEMPORAL_TLS_CLIENT_KEY_PATH } : {}),
    ...(c.TEMPORAL_TLS_SERVER_NAME ? { serverName: c.TEMPORAL_TLS_SERVER_NAME } : {}),
  };
  const anyTemporalTls = Object.keys(temporalTls).length > 0;
  if (c.TEMPORAL_TLS === false && anyTemporalTls)
    problems.push('TEMPORAL_TLS is false but TEMPORAL_TLS_* is set: remove those, or set TEMPORAL_TLS=true');
  if (Boolean(c.TEMPORAL_TLS_CLIENT_CERT_PATH) !== Boolean(c.TEMPORAL_TLS_CLIENT_KEY_PATH))
    problems.push(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together (a client certificate and its key)',
    );
  // Encryption keys
  let keys = c.IDEM_ENCRYPTION_KEYS;
  if (keys && c.IDEM_ENCRYPTION_KEYS_FILE)
    problems.push('IDEM_ENCRYPTION_KEYS and IDEM_ENCRYPTION_KEYS_FILE are both set: keep one of them');
  else if (c.IDEM_ENCRYPTION_KEYS_FILE) {
    const parsed = parseEncryptionKeys(fs.readFileSync(c.IDEM_ENCRYPTION_KEYS_FILE, 'utf8'));
    if ('keys' in parsed) keys = parsed.keys;
    else
      problems.push(
        ...parsed.problems.map((p) => `IDEM_ENCRYPTION_KEYS_FILE (${c.IDEM_ENCRYPTION_KEYS_FILE}): ${p}`),
      );
  }
  if (problems.length > 0) return { problems };

  for (const secret of [c.KAFKA_SASL_PASSWORD, c.IDEM_CODEC_TOKEN]) if (secret) registerSecret(secret);
  for (const headers of [c.OTEL_EXPORTER_OTLP_HEADERS, c.OTEL_EXPORTER_OTLP_TRACES_HEADERS])
    for (const value of Object.values(headers ?? {})) registerSecret(value);
  for (const k of keys ?? []) registerSecret(k.material().toString('base64'));
  const sasl =
    c.KAFKA_SASL_MECHANISM && c.KAFKA_SASL_USERNAME && c.KAFKA_SASL_PASSWORD
      ? {
          mechanism: c.KAFKA_SASL_MECHANISM,
          username: c.KAFKA_SASL_USERNAME,
          password: c.KAFKA_SASL_PASSWORD,
        }
      : undefined;
  const ssl =
    c.KAFKA_SSL || anyKafkaPath
      ? (Object.fromEntries(Object.entries(kafkaPaths).filter(([, v]) => v)) as KafkaTlsSettings)
      : undefined;
  return {
    kafka: { ...(ssl ? { ssl } : {}), ...(sasl ? { sasl } : {}) },
    ...(c.TEMPORAL_TLS || anyTemporalTls ? { temporalTls } : {}),
    ...(keys ? { keys } : {}),
  };
}

/** Parses an environment; throws ConfigError naming every bad variable and what it expects. */
export function parseConfig(env: Env): Config {
  const relevant = Object.fromEntries(
    Object.keys(schema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const result = schema.safeParse(relevant);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      const got = env[name];
      const value = got === undefined || SECRET_VARIABLES.has(name) ? undefined : redactSecrets(got);
      const shown =
        value === undefined
          ? ''
          : ` (got ${JSON.stringify(value.length > 80 ? value.slice(0, 80) + '…' : value)})`;
      return `  ${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(
      `Invalid configuration:\n${lines.join('\n')}\nFix these environment variables (or .env) and start again; see docs/configuration.md.`,
    );
  }
  const c = result.data;
  const security = securitySettings(c);
  if ('problems' in security) {
    throw new ConfigError(
      `Invalid configuration:\n${security.problems.map((p) => `  ${p}`).join('\n')}\n` +
        'Fix these environment variables (or .env) and start again; see docs/configuration.md.',
    );
  }
  // An attempt against a database that stopped answering must fail as a store outage (the pool's
  // own timeouts), before Temporal times the attempt out as the handler's failure.
  // Unset, they follow the attempt timeout; set, they are checked against it.
  const attempt = c.IDEM_ATTEMPT_TIMEOUT_MS;
  const statementTimeoutMs = c.IDEM_PG_STATEMENT_TIMEOUT_MS ?? Math.min(20_000, Math.floor(attempt * 0.6));
  const connectTimeoutMs = c.IDEM_PG_CONNECT_TIMEOUT_MS ?? Math.min(10_000, Math.floor(attempt / 2));
  const noAnswerMs = statementTimeoutMs + Math.min(5_000, Math.floor(attempt / 5));
  const lockTimeoutMs = c.IDEM_PG_LOCK_TIMEOUT_MS ?? Math.min(10_000, Math.floor(statementTimeoutMs / 2));
  if (lockTimeoutMs >= statementTimeoutMs) {
    throw new ConfigError(
      `Invalid configuration:\n  IDEM_PG_LOCK_TIMEOUT_MS (${lockTimeoutMs}) must be below the statement timeout ` +
        `(${statementTimeoutMs}, IDEM_PG_STATEMENT_TIMEOUT_MS): a wait for a lock must end as a lock timeout, ` +
        'which tells an event whose claim another attempt holds (it waits) from a slow statement (it fails).\n' +
        'Lower IDEM_PG_LOCK_TIMEOUT_MS or raise IDEM_PG_STATEMENT_TIMEOUT_MS; see docs/configuration.md.',
    );
  }
  if (Math.max(noAnswerMs, connectTimeoutMs) >= attempt) {
    throw new ConfigError(
      `Invalid configuration:\n  IDEM_ATTEMPT_TIMEOUT_MS (${attempt}) must exceed both ` +
        `IDEM_PG_STATEMENT_TIMEOUT_MS plus its no-answer margin (${noAnswerMs}) ` +
        `and IDEM_PG_CONNECT_TIMEOUT_MS (${connectTimeoutMs}): otherwise an attempt against an unreachable ` +
        'database times out as a handler failure and the event is dead-lettered instead of waiting for the database.\n' +
        'Raise IDEM_ATTEMPT_TIMEOUT_MS or lower the PostgreSQL timeouts; see docs/configuration.md.',
    );
  }
  const maxWindow = c.IDEM_MAX_WINDOW ?? 2 * c.IDEM_MAX_IN_FLIGHT;
  if (maxWindow < c.IDEM_MAX_IN_FLIGHT) {
    throw new ConfigError(
      `Invalid configuration:\n  IDEM_MAX_WINDOW (${maxWindow}) must be at least IDEM_MAX_IN_FLIGHT (${c.IDEM_MAX_IN_FLIGHT}): ` +
        'the window holds the records not handed off yet and those waiting behind an open one.\n' +
        'Raise IDEM_MAX_WINDOW or lower IDEM_MAX_IN_FLIGHT; see docs/configuration.md.',
    );
  }
  if (c.IDEM_RETRY_INITIAL_MS > c.IDEM_RETRY_MAX_MS) {
    throw new ConfigError(
      `Invalid configuration:\n  IDEM_RETRY_INITIAL_MS (${c.IDEM_RETRY_INITIAL_MS}) must not exceed IDEM_RETRY_MAX_MS (${c.IDEM_RETRY_MAX_MS}).\n` +
        'Fix these environment variables (or .env) and start again; see docs/configuration.md.',
    );
  }
  const tracing = tracingSettings(c);
  return {
    kafka: {
      brokers: c.KAFKA_BROKERS,
      topics: c.KAFKA_TOPICS,
      groupId: c.KAFKA_GROUP_ID,
      clientId: c.KAFKA_CLIENT_ID,
      ...security.kafka,
      outboxTopic: c.IDEM_OUTBOX_TOPIC,
    },
    temporal: {
      address: c.TEMPORAL_ADDRESS,
      namespace: c.TEMPORAL_NAMESPACE,
      taskQueue: c.TEMPORAL_TASK_QUEUE,
      webUrl: c.TEMPORAL_WEB_URL,
      ...(security.temporalTls ? { tls: security.temporalTls } : {}),
    },
    database: {
      url: c.DATABASE_URL,
      poolSize: c.IDEM_PG_POOL_SIZE,
      connectTimeoutMs,
      statementTimeoutMs,
      queryTimeoutMs: noAnswerMs,
      lockTimeoutMs,
      idleInTransactionTimeoutMs: attempt,
    },
    ingest: {
      maxEventBytes: c.IDEM_MAX_EVENT_BYTES,
      maxInFlight: c.IDEM_MAX_IN_FLIGHT,
      maxWindow,
      maxInFlightBytes: c.IDEM_MAX_IN_FLIGHT_BYTES,
      maxUnsettled: c.IDEM_MAX_UNSETTLED,
      startTimeoutMs: c.IDEM_START_TIMEOUT_MS,
      ordering: c.IDEM_ORDERING,
      keyParking: c.IDEM_ORDERING && c.IDEM_KEY_PARKING,
      startConcurrency: c.IDEM_START_CONCURRENCY,
      fetchMaxWaitMs: c.IDEM_FETCH_MAX_WAIT_MS,
      skipApplied: c.IDEM_SKIP_APPLIED,
      eagerStart: c.IDEM_EAGER_START,
    },
    retry: {
      maxAttempts: c.IDEM_MAX_ATTEMPTS,
      initialIntervalMs: c.IDEM_RETRY_INITIAL_MS,
      maxIntervalMs: c.IDEM_RETRY_MAX_MS,
      attemptTimeoutMs: c.IDEM_ATTEMPT_TIMEOUT_MS,
    },
    worker: {
      workflowTaskSlots: c.IDEM_WORKFLOW_TASK_SLOTS,
      localActivitySlots: c.IDEM_LOCAL_ACTIVITY_SLOTS,
      maxCachedWorkflows: c.IDEM_MAX_CACHED_WORKFLOWS,
      warmUpWorkflows: c.IDEM_WARM_UP_WORKFLOWS,
      reconcile: { intervalMs: c.IDEM_RECONCILE_INTERVAL_MS, lookBackMs: c.IDEM_RECONCILE_LOOKBACK_MS },
    },
    dedup: { retentionMs: c.IDEM_DEDUP_RETENTION, pruneBatchSize: c.IDEM_PRUNE_BATCH_SIZE },
    workflow: {
      applyAs: c.IDEM_APPLY_AS,
      upsertApplied: c.IDEM_UPSERT_APPLIED,
    },
    ...(c.IDEM_HANDLERS ? { handlers: c.IDEM_HANDLERS } : {}),
    metricsPort: c.IDEM_METRICS_PORT,
    monitoring: {
      sampleIntervalMs: c.IDEM_METRICS_SAMPLE_INTERVAL_MS,
      stuckAfterMs: c.IDEM_STUCK_AFTER_MS,
      stuckIntervalMs: c.IDEM_STUCK_INTERVAL_MS,
      temporalMetricsPort: c.IDEM_TEMPORAL_METRICS_PORT,
    },
    logLevel: c.IDEM_LOG_LEVEL,
    cacheDir: defaultCacheDir(env),
    stack: { timeoutMs: c.IDEM_STACK_TIMEOUT * 1000, stallMs: c.IDEM_STACK_STALL_TIMEOUT * 1000 },
    ...(security.keys ? { encryption: { keys: security.keys } } : {}),
    ...(tracing ? { tracing } : {}),
    codecServer: {
      host: c.IDEM_CODEC_HOST,
      port: c.IDEM_CODEC_PORT,
      ...(c.IDEM_CODEC_TOKEN ? { token: c.IDEM_CODEC_TOKEN } : {}),
      corsOrigins: (c.IDEM_CODEC_CORS_ORIGINS ?? [c.TEMPORAL_WEB_URL]).map((u) => new URL(u).origin),
    },
  };
}

/** The configuration of this process: environment, .env, stack file, defaults. */
export function loadConfig(processEnv: Env = process.env, cwd = process.cwd()): Config {
  return parseConfig(resolveEnv(processEnv, cwd));
}
