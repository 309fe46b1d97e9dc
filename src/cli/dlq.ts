import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { createKafka } from '../app';
import { loadConfig, type Config } from '../config';
import { parseSince, readDlq, type DlqEntry, type DlqFilter } from '../dlq/reader';
import { redrive, type RedriveItem } from '../dlq/redrive';
import { dlqTopicFor } from '../dlq/topic';
import { InvalidArgumentError } from '../errors';
import { createLogger } from '../observability/logger';

interface FilterOpts {
  topic?: string;
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
  return { reason: o.reason, type: o.type, since: o.since ? parseSince(o.since) : undefined, limit };
}

async function readSelected(config: Config, o: FilterOpts): Promise<DlqEntry[]> {
  const kafka = createKafka(config, createLogger(config.logLevel), 'idem-dlq');
  const topics = o.topic ? [o.topic] : config.kafka.topics;
  const filter = toFilter(o);
  const all: DlqEntry[] = [];
  for (const t of topics) all.push(...(await readDlq(kafka, dlqTopicFor(t), filter)));
  return filter.limit ? all.slice(0, filter.limit) : all;
}

function summary(e: DlqEntry): string {
  const i = e.info;
  const where = `${i.originalTopic ?? '?'}[${i.originalPartition ?? '?'}]@${i.originalOffset ?? '?'}`;
  return `${e.timestamp.toISOString()}  ${e.dlqTopic}[${e.dlqPartition}]@${e.dlqOffset}  ${i.reason.padEnd(16)} ${(i.eventType ?? '-').padEnd(20)} ${i.cloudEventId ?? '-'}  attempts=${i.attempts}  from ${where}\n    ${i.error.slice(0, 200)}`;
}

export function registerDlqCommands(program: Command): void {
  const dlq = program.command('dlq').description('the dead-letter topic: list and redrive');

  withFilters(
    dlq.command('list').description('list dead-lettered records with their reason and error'),
  ).action(async (o: FilterOpts) => {
    const entries = await readSelected(loadConfig(), o);
    if (o.json) {
      console.log(
        JSON.stringify(
          entries.map((e) => ({
            ...e,
            key: e.key?.toString(),
            value: e.value?.toString(),
            headers: undefined,
          })),
          null,
          2,
        ),
      );
      return;
    }
    for (const e of entries) console.log(summary(e));
    const byReason = new Map<string, number>();
    for (const e of entries) byReason.set(e.info.reason, (byReason.get(e.info.reason) ?? 0) + 1);
    console.log(
      `${entries.length} record(s)${entries.length ? ': ' + [...byReason].map(([r, n]) => `${r} ${n}`).join(', ') : ''}`,
    );
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
    const connection = await Connection.connect({ address: config.temporal.address });
    try {
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const items = await redrive(client, config, entries, {
        dryRun: o.dryRun,
        wait: o.wait,
        onItem: (it: RedriveItem) => {
          if (!o.json)
            console.log(
              `${it.status.padEnd(16)} ${summary(it.entry).split('\n')[0]}${it.detail ? `\n    ${it.detail}` : ''}`,
            );
        },
      });
      const counts = new Map<string, number>();
      for (const it of items) counts.set(it.status, (counts.get(it.status) ?? 0) + 1);
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
      else
        console.log(
          `${items.length} record(s): ${[...counts].map(([s, n]) => `${s} ${n}`).join(', ') || 'nothing to redrive'}`,
        );
      if (items.some((i) => i.status === 'failed_again')) process.exitCode = 2;
    } finally {
      await connection.close();
    }
  });
}
