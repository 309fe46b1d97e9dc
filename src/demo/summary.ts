/** The demo's closing summary: what happened to every record, checked against the
 * ledger's expected totals, from PostgreSQL, the dead-letter topic and the metrics. */
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { Pool } from 'pg';
import type { IdemProcess } from '../app';
import type { Config } from '../config';
import { PACKAGE_ROOT } from '../package-root';
import { pgConnectionConfig } from '../store/tls';
import { readDlq } from '../dlq/reader';
import { dlqTopicFor } from '../dlq/topic';
import type { Scenario } from './scenario';

export const DEMO_TOPIC = 'idem-demo';

export interface DemoReport {
  ok: boolean;
  produced: Record<string, number>;
  outcome: {
    applied: number;
    temporalDuplicates: number;
    storeDuplicates: number;
    ingestDuplicates: number;
    deadLettered: Record<string, number>;
  };
  checks: { name: string; ok: boolean; detail: string }[];
  seconds: number;
  webUrl: string;
}

export async function metric(
  proc: IdemProcess,
  name: string,
  match: (labels: Record<string, string | number>) => boolean = () => true,
) {
  const m = await proc.metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => match(v.labels as Record<string, string | number>))
    .reduce((s, v) => s + v.value, 0);
}

export async function summarize(a: {
  scenario: Scenario;
  proc: IdemProcess;
  config: Config;
  kafka: Kafka;
  produced: Record<string, number>;
  began: number;
  runId: string;
  out: (line: string) => void;
  startOffsets: Map<number, bigint>;
}): Promise<DemoReport> {
  const { scenario: s, proc, config, out } = a;
  const db = new Pool({ ...pgConnectionConfig(config.database.url), max: 2 });
  try {
    const balances = await db.query<{ account: string; balance: string }>(
      'select account, balance from account_balances where account = any($1)',
      [s.accounts],
    );
    const entries = await db.query<{ n: string }>(
      'select count(*) as n from ledger_entries where account = any($1)',
      [s.accounts],
    );
    const doubles = await db.query<{ n: string }>(
      `select count(*) as n from (select event_id from processed_events where source = $1 group by event_id having count(*) > 1) d`,
      [s.source],
    );
    // Order is promised per key within a partition; copies sent to another partition on
    // purpose form their own groups.
    const order = await db.query<{ event_key: string; offsets: string[] }>(
      `select event_key, array_agg(kafka_offset::text order by processed_at, kafka_offset) as offsets
         from processed_events where source = $1 and status = 'applied' group by event_key, kafka_partition`,
      [s.source],
    );
    // This run's dead-letter records: its own events, and malformed records produced after it began.
    const dlq = (await readDlq(a.kafka, dlqTopicFor(DEMO_TOPIC), { since: new Date(a.began) })).filter((e) =>
      e.info.eventSource !== undefined
        ? e.info.eventSource === s.source
        : e.info.originalOffset !== undefined &&
          BigInt(e.info.originalOffset) >= (a.startOffsets.get(e.info.originalPartition ?? -1) ?? 0n),
    );
    const deadLettered: Record<string, number> = {};
    for (const e of dlq) deadLettered[e.info.reason] = (deadLettered[e.info.reason] ?? 0) + 1;
    const appliedRows = await db.query<{ n: string }>(
      `select count(*) as n from processed_events where source = $1 and status = 'applied'`,
      [s.source],
    );
    const unknownRows = await db.query<{ n: string }>(
      `select count(*) as n from processed_events where source = $1 and status = 'dead_lettered'`,
      [s.source],
    );

    const actual = Object.fromEntries(balances.rows.map((r) => [r.account, Number(r.balance)]));
    const balancesOk = s.accounts.every((acc) => (actual[acc] ?? 0) === s.expected[acc]);
    const entryCount = Number(entries.rows[0]?.n ?? 0);
    const orderOk = order.rows.every((r) =>
      r.offsets.every((o, i, arr) => i === 0 || BigInt(arr[i - 1] as string) <= BigInt(o)),
    );
    const applied = Number(appliedRows.rows[0]?.n ?? 0);
    const temporalDuplicates = await metric(proc, 'idem_duplicates_total', (l) => l.layer === 'temporal');
    const storeDuplicates = await metric(proc, 'idem_duplicates_total', (l) => l.layer === 'store');
    const ingestDuplicates = await metric(proc, 'idem_duplicates_total', (l) => l.layer === 'ingest');
    const checks = [
      {
        name: 'ledger entries = unique events',
        ok: entryCount === s.events.length,
        detail: `${entryCount} = ${s.events.length}`,
      },
      {
        name: `balances of ${s.accounts.length} accounts = expected totals`,
        ok: balancesOk,
        detail: s.accounts
          .map((acc) => `${acc.split('-').pop()} ${((actual[acc] ?? 0) / 100).toFixed(2)}`)
          .join(', '),
      },
      {
        name: 'double effects',
        ok: Number(doubles.rows[0]?.n) === 0 && entryCount === s.events.length,
        detail: `${Math.max(0, entryCount - s.events.length)}`,
      },
      {
        name: 'per-key order (effects in offset order)',
        ok: orderOk,
        detail: `${new Set(order.rows.map((r) => r.event_key)).size} keys`,
      },
      {
        name: 'dead-lettered events recorded in the store',
        ok: Number(unknownRows.rows[0]?.n) === s.unknownTypeIds.length,
        detail: `${unknownRows.rows[0]?.n} of ${s.unknownTypeIds.length} unknown-type events`,
      },
    ];
    const ok = checks.every((c) => c.ok);
    const seconds = (Date.now() - a.began) / 1000;
    const query = encodeURIComponent(`IdemSource="${s.source}"`);
    const webUrl = `${config.temporal.webUrl}/namespaces/${config.temporal.namespace}/workflows?query=${query}`;

    const pad = (label: string, width = 46) => label.padEnd(width, ' ');
    out('');
    out(`idem demo — run ${a.runId}, ${seconds.toFixed(1)} s`);
    out(`  Records produced to ${DEMO_TOPIC}: ${Object.values(a.produced).reduce((x, y) => x + y, 0)}`);
    for (const [what, n] of Object.entries(a.produced)) out(`    ${pad(what, 46)}${String(n).padStart(6)}`);
    out('  What happened');
    out(`    ${pad('applied (side effects committed once)', 46)}${String(applied).padStart(6)}`);
    out(
      `    ${pad('duplicates skipped by Temporal (workflow ID)', 46)}${String(temporalDuplicates).padStart(6)}`,
    );
    out(`    ${pad('duplicates skipped by the PostgreSQL store', 46)}${String(storeDuplicates).padStart(6)}`);
    out(`    ${pad('duplicates skipped by the ingester (seen)', 46)}${String(ingestDuplicates).padStart(6)}`);
    const dlqTotal = Object.values(deadLettered).reduce((x, y) => x + y, 0);
    out(`    ${pad(`dead-lettered to ${dlqTopicFor(DEMO_TOPIC)}`, 46)}${String(dlqTotal).padStart(6)}`);
    for (const [reason, n] of Object.entries(deadLettered).sort())
      out(`      ${pad(reason, 44)}${String(n).padStart(6)}`);
    out('  Checks');
    for (const c of checks) out(`    ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
    out(ok ? '  All checks passed: every event applied exactly once.' : '  SOME CHECKS FAILED (see above).');
    out(`  Temporal Web (this run's workflows): ${webUrl}`);
    out(
      `  Dead-letter records: idem dlq list --topic ${DEMO_TOPIC} --since ${new Date(a.began).toISOString()}`,
    );
    // The demo's own process serves no /metrics; these are for a running `idem consume`.
    const deploy = (...p: string[]) => path.join(PACKAGE_ROOT, 'deploy', ...p);
    out(
      `  Grafana dashboard: ${deploy('grafana', 'dashboards', 'idem.json')} (docker compose up -d prometheus grafana, then http://localhost:23000; docs/docker-compose.md)`,
    );
    out(
      `  Alert rules: ${deploy('prometheus', 'alerts.yml')} (what each means and what to do: docs/operations.md, Alerts)`,
    );
    return {
      ok,
      produced: a.produced,
      outcome: { applied, temporalDuplicates, storeDuplicates, ingestDuplicates, deadLettered },
      checks,
      seconds,
      webUrl,
    };
  } finally {
    await db.end();
  }
}
