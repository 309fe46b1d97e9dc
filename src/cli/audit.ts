/**
 * `idem audit`: accounts for every offset of the configured topics (src/audit/). Exit code 0 when
 * everything is accounted for and nothing was doubled, 1 otherwise, 2 when the audit could not
 * run (arguments, configuration, a server that does not answer), with the fix.
 */
import { Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { Pool } from 'pg';
import { loadHandlerModule } from '../activities/handlers/load';
import { createKafka } from '../app';
import { auditTopics, formatReport, type AuditProgress } from '../audit';
import { loadConfig, type Config } from '../config';
import { parseSince } from '../dlq/reader';
import { InvalidArgumentError, UserError } from '../errors';
import { createLogger } from '../observability/logger';
import { redactSecrets } from '../observability/redact';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';
import { pgConnectionConfig } from '../store/tls';

interface AuditOpts {
  topic?: string;
  since?: string;
  toEnd?: boolean;
  group?: string;
  handlers?: string;
  limit?: string;
  json?: boolean;
}

const EXIT_FINDINGS = 1;
const EXIT_CANNOT_RUN = 2;

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      'read topics back from Kafka and account for every offset (applied, duplicate, dead-lettered, parked, ' +
        'in progress, not yet consumed), and check that no effect was applied twice; exit 0 when all is ' +
        'accounted for, 1 otherwise, 2 when the audit cannot run',
    )
    .option('--topic <topic>', 'audit this topic (default: every topic of KAFKA_TOPICS)')
    .option('--since <time>', 'from the first record at or after this time (ISO time, or 30m, 2h, 7d back)')
    .option(
      '--to-end',
      "read to the end of each partition, not only to the consumer group's committed offset",
    )
    .option(
      '--group <id>',
      'the consumer group whose committed offsets bound the audit (default: KAFKA_GROUP_ID)',
    )
    .option(
      '--handlers <module>',
      "the handler module whose audit checks to run (default: IDEM_HANDLERS; without one, idem's own checks only)",
    )
    .option('--limit <n>', 'list at most this many unaccounted offsets and double effects (default 20)')
    .option('--json', 'the report as JSON on stdout')
    // Usage errors exit 2 like every other reason the audit cannot run (1 means findings).
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN))
    .action(async (o: AuditOpts) => {
      try {
        process.exitCode = (await runAudit(o)) ? 0 : EXIT_FINDINGS;
      } catch (err) {
        console.error(err instanceof UserError ? `idem audit: ${err.message}` : err);
        process.exitCode = EXIT_CANNOT_RUN;
      }
    });
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 20;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`--limit ${text}: expected a whole number`);
  return n;
}

/** Runs the audit and prints its report; true when everything is accounted for. */
async function runAudit(o: AuditOpts): Promise<boolean> {
  const limit = parseLimit(o.limit);
  const since = o.since === undefined ? undefined : parseSince(o.since);
  const config = loadConfig();
  const spec = o.handlers ?? config.handlers;
  const handlers = spec ? { name: spec, audit: loadHandlerModule(spec).audit } : undefined;
  const kafka = createKafka(config, createLogger(config.logLevel), 'idem-audit');
  const pool = new Pool({ ...pgConnectionConfig(config.database.url), max: 2 });
  pool.on('error', () => undefined);
  let connection: Connection | undefined;
  try {
    await checkStore(config, pool);
    connection = await Connection.connect(temporalConnectionOptions(config)).catch((err: unknown) => {
      throw new UserError(
        `Temporal at ${config.temporal.address} did not answer (${(err as Error).message}): check ` +
          'TEMPORAL_ADDRESS and TEMPORAL_TLS*; for the local stack, idem stack status',
      );
    });
    const report = await auditTopics({
      config,
      kafka,
      pool,
      temporal: temporalClient(config, connection),
      ...(o.topic ? { topics: [o.topic] } : {}),
      ...(o.group ? { groupId: o.group } : {}),
      ...(since ? { since } : {}),
      toEnd: o.toEnd ?? false,
      ...(handlers ? { handlers } : {}),
      limit,
      onProgress: progressPrinter(),
    }).catch((err: unknown) => {
      if (err instanceof Error && err.name.startsWith('KafkaJS'))
        throw new UserError(
          `Kafka at ${config.kafka.brokers.join(',')} failed the audit (${err.message}): check KAFKA_BROKERS and ` +
            'KAFKA_SSL*/KAFKA_SASL_*; for the local stack, idem stack status',
        );
      throw err;
    });
    console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok;
  } finally {
    await connection?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}

/** PostgreSQL answers, and DATABASE_URL's database is idem's. */
async function checkStore(config: Config, pool: Pool): Promise<void> {
  try {
    await pool.query('select 1 from processed_events limit 0');
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new UserError(
      e.code === '42P01'
        ? `the database of DATABASE_URL (${redactSecrets(config.database.url)}) has no processed_events table: ` +
            'point DATABASE_URL at the consumers’ database, or run idem migrate'
        : `PostgreSQL at DATABASE_URL (${redactSecrets(config.database.url)}) did not answer (${redactSecrets(e.message)}): ` +
            'check DATABASE_URL; for the local stack, idem stack status',
    );
  }
}

/** Counts on stderr while the audit runs, at most every 2 s, and at each new phase. */
function progressPrinter(): (p: AuditProgress) => void {
  let last = 0;
  let phase = '';
  return (p) => {
    const now = Date.now();
    if (p.phase === phase && now - last < 2_000) return;
    last = now;
    phase = p.phase;
    const pct = p.toRead ? ` (${Math.floor((100 * p.read) / p.toRead)} %)` : '';
    console.error(
      p.phase === 'reading'
        ? `idem audit: ${p.read} of ${p.toRead} records read${pct}, ${p.unaccounted} unaccounted so far`
        : `idem audit: ${p.read} records read; now ${p.phase === 'checks' ? 'checking effects' : 'reading the dead-letter topics'}`,
    );
  };
}
