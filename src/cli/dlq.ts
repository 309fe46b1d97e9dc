import { Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { createKafka } from '../app';
import { loadConfig, type Config } from '../config';
import { dedupKeyOf, parseSince, readDlq, type DlqEntry, type DlqFilter } from '../dlq/reader';
import { redrive, type RedriveItem } from '../dlq/redrive';
import { skip, type SkipItem } from '../dlq/skip';
import { listParkedKeys } from '../store/sql/key-parking';
import { Pool } from 'pg';
import { dlqTopicFor } from '../dlq/topic';
import { InvalidArgumentError } from '../errors';
import { escapeControls } from '../events/utf8';
import { createLogger } from '../observability/logger';
import { startTracingFor } from '../observability/tracing-start';
import { pgConnectionConfig } from '../store/tls';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';

interface FilterOpts {
  topic?: string;
  id?: string;
  reason?: string;
  type?: string;
  since?: string;
  limit?: string;
  json?: boolean;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option(
      '--topic <topic>',
      'source topic whose dead-letter topic to read (default: every configured topic)',
    )
    .option('--id <id>', 'only the event with this id (the CloudEvents id)')
    .option(
      '--reason <reason>',
      'only this idem-reason (invalid_envelope, unknown_type, handler_failed, ...)',
    )
    .option('--type <type>', 'only this event type')
    .option('--since <time>', 'only records dead-lettered since (ISO time, or 30m, 2h, 7d)')
    .option('--limit <n>', 'at most this many records')
    .option('--json', 'machine-readable output');
}

function toFilter(o: FilterOpts): DlqFilter {
  const limit = o.limit === undefined ? undefined : Number(o.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new InvalidArgumentError(`--limit ${o.limit}: expected a positive whole number`);
  return {
    id: o.id,
    reason: o.reason,
    type: o.type,
    since: o.since ? parseSince(o.since) : undefined,
    limit,
  };
}

async function readSelected(config: Config, o: FilterOpts): Promise<DlqEntry[]> {
  const kafka = createKafka(config, createLogger(config.logLevel), 'idem-dlq');
  const topics = o.topic ? [o.topic] : config.kafka.topics;
  const filter = toFilter(o);
  const all: DlqEntry[] = [];
  for (const t of topics) all.push(...(await readDlq(kafka, dlqTopicFor(t), filter)));
  return filter.limit ? all.slice(0, filter.limit) : all;
}

/** One entry for the terminal. What it quotes (a handler's error message, headers of a record
 * anyone could have written to the dead-letter topic) has its control characters escaped, so no
 * escape sequence reaches the operator's terminal. */
function summary(e: DlqEntry): string {
  const i = e.info;
  const t = escapeControls;
  const where = `${t(i.originalTopic ?? '?')}[${i.originalPartition ?? '?'}]@${t(i.originalOffset ?? '?')}`;
  return `${e.timestamp.toISOString()}  ${e.dlqTopic}[${e.dlqPartition}]@${e.dlqOffset}  ${t(i.reason).padEnd(16)} ${t(i.eventType ?? '-').padEnd(20)} ${t(i.cloudEventId ?? '-')}  attempts=${i.attempts}  from ${where}${e.copies > 1 ? `  (${e.copies} copies of one dead-lettering)` : ''}\n    ${t(i.error.slice(0, 200).replace(/\n\s*/g, ' '))}`;
}

type ParkedKey = Awaited<ReturnType<typeof listParkedKeys>>[number];

/** Runs `fn` with a one-connection pool on the store (DATABASE_URL), closed afterwards. */
async function withStore<T>(
  config: Config,
  fn: (pool: Pool) => Promise<T>,
  connectTimeoutMs?: number,
): Promise<T> {
  const pool = new Pool({
    ...pgConnectionConfig(config.database.url),
    max: 1,
    connectionTimeoutMillis: connectTimeoutMs,
  });
  pool.on('error', () => undefined);
  try {
    return await fn(pool);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** The store's parked keys, or undefined (with a note) when PostgreSQL cannot be reached. */
async function parkedKeys(config: Config): Promise<ParkedKey[] | undefined> {
  try {
    return await withStore(config, listParkedKeys, 5_000);
  } catch (err) {
    console.error(`(parked keys not shown: PostgreSQL at DATABASE_URL answered ${(err as Error).message})`);
    return undefined;
  }
}

/** `N record(s): status n, status n`, or `N record(s): <none>` when there are none. */
function statusCounts(items: { status: string }[], none: string): string {
  const counts = new Map<string, number>();
  for (const it of items) counts.set(it.status, (counts.get(it.status) ?? 0) + 1);
  return `${items.length} record(s): ${[...counts].map(([st, n]) => `${st} ${n}`).join(', ') || none}`;
}

export function registerDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('the dead-letter topic: list, redrive, and skip (release the keys parked behind an event)');

  withFilters(
    dlq.command('list').description('list dead-lettered records with their reason and error'),
  ).action(async (o: FilterOpts) => {
    const config = loadConfig();
    const entries = await readSelected(config, o);
    const parked = await parkedKeys(config);
    const holding = new Map((parked ?? []).map((k) => [k.blockedBy, k]));
    const held = (e: DlqEntry) => {
      const k = holding.get(dedupKeyOf(e) ?? '');
      return k && { key: k.key, waiting: k.waiting, since: k.since, releasing: k.released };
    };
    if (o.json) {
      console.log(
        JSON.stringify(
          entries.map((e) => ({
            ...e,
            key: e.key?.toString(),
            value: e.value?.toString(),
            headers: undefined,
            parked: held(e),
          })),
          null,
          2,
        ),
      );
      return;
    }
    for (const e of entries) {
      const h = held(e);
      console.log(
        summary(e) +
          (h
            ? `\n    holds key ${escapeControls(JSON.stringify(h.key))}: ${h.waiting} event(s) parked behind it since ${h.since.toISOString()}${h.releasing ? ' (being released)' : ' (idem dlq redrive or idem dlq skip releases them)'}`
            : ''),
      );
    }
    const byReason = new Map<string, number>();
    for (const e of entries) byReason.set(e.info.reason, (byReason.get(e.info.reason) ?? 0) + 1);
    console.log(
      `${entries.length} record(s)${entries.length ? ': ' + [...byReason].map(([r, n]) => `${r} ${n}`).join(', ') : ''}`,
    );
    if (parked && parked.length > 0)
      console.log(
        `${parked.length} parked key(s), ${parked.reduce((n, k) => n + k.waiting, 0)} event(s) waiting: ${parked
          .slice(0, 20)
          .map((k) => `${k.topic}/${escapeControls(JSON.stringify(k.key))} ${k.waiting}`)
          .join(', ')}${parked.length > 20 ? ', …' : ''}`,
      );
  });

  withFilters(
    dlq
      .command('skip')
      .description(
        'give up on dead-lettered events: the later events of their keys, parked behind them, go on without them (the records stay in the dead-letter topic and can still be redriven)',
      ),
  ).action(async (o: FilterOpts) => {
    if (!o.id && !o.reason && !o.type && !o.since)
      throw new InvalidArgumentError('name the events to skip: --id, --type, --reason or --since');
    const config = loadConfig();
    const entries = await readSelected(config, o);
    const items = await withStore(config, (pool) =>
      skip(pool, entries, {
        onItem: (it: SkipItem) => {
          if (!o.json) console.log(`${it.status.padEnd(16)} ${summary(it.entry).split('\n')[0]}`);
        },
      }),
    );
    if (o.json)
      console.log(
        JSON.stringify(
          items.map((i) => ({ status: i.status, dedupKey: i.dedupKey, dlqOffset: i.entry.dlqOffset })),
          null,
          2,
        ),
      );
    else console.log(statusCounts(items, 'nothing to skip'));
  });

  withFilters(
    dlq
      .command('redrive')
      .description('process dead-lettered events again; an event already applied is never applied twice')
      .option('--dry-run', 'show what would be redriven, start nothing')
      .option('--no-wait', 'start the redrive workflows and return without waiting for their outcome'),
  ).action(async (o: FilterOpts & { dryRun?: boolean; wait: boolean }) => {
    const config = loadConfig();
    const entries = await readSelected(config, o);
    const connection = await Connection.connect(temporalConnectionOptions(config));
    // With an OTLP endpoint configured, the redrive continues each record's trace.
    const tracing = o.dryRun ? undefined : await startTracingFor(config, createLogger(config.logLevel));
    try {
      const client = temporalClient(config, connection, tracing?.clientInterceptors());
      const items = await redrive(client, config, entries, {
        dryRun: o.dryRun,
        wait: o.wait,
        ...(tracing ? { tracing } : {}),
        onItem: (it: RedriveItem) => {
          if (!o.json)
            console.log(
              `${it.status.padEnd(16)} ${summary(it.entry).split('\n')[0]}${it.detail ? `\n    ${it.detail}` : ''}`,
            );
        },
      });
      if (o.json)
        console.log(
          JSON.stringify(
            items.map((i) => ({
              status: i.status,
              workflowId: i.workflowId,
              detail: i.detail,
              dlqOffset: i.entry.dlqOffset,
              dlqPartition: i.entry.dlqPartition,
            })),
          ),
        );
      else console.log(statusCounts(items, 'nothing to redrive'));
      if (items.some((i) => i.status === 'failed_again')) process.exitCode = 2;
    } finally {
      await tracing?.shutdown();
      await connection.close();
    }
  });
}
