/** `idem prune`'s report for a person (`--json` prints the PruneReport itself). */
import { formatRetention } from './duration';
import type { PruneProgress } from './prune';
import type { DeadLetterHold, PruneReport } from './types';

const n = (x: number): string => x.toLocaleString('en-US');

function hold(h: DeadLetterHold): string {
  if (h.missing) return `${h.dlqTopic}: no such topic, no record to redrive`;
  if (h.keepsAtMostMs === null)
    return `${h.dlqTopic}: keeps records for ever (retention.ms ${h.retentionMs ?? -1}, cleanup.policy ${h.cleanupPolicy}): its dead-lettered rows are kept`;
  return (
    `${h.dlqTopic}: keeps a record up to ${formatRetention(h.keepsAtMostMs)} ` +
    `(retention.ms ${formatRetention(h.retentionMs ?? 0)} + segment.ms ${formatRetention(h.segmentMs)} + 1h)`
  );
}

export function renderPlan(r: PruneReport): string {
  const lines = [
    `processed_events rows processed before ${r.cutoff} (database time ${r.now}) are past retention:`,
    `  IDEM_DEDUP_RETENTION ${formatRetention(r.retentionMs)}; Temporal namespace "${r.namespace}" keeps workflows ${formatRetention(r.namespaceRetentionMs)}`,
    ...r.deadLetterHolds.map((h) => `  ${hold(h)}`),
    `past retention: ${n(r.prunable + r.keptForDeadLetter + r.keptForParkedKey)} rows; ` +
      `kept ${n(r.keptForDeadLetter)} whose dead-letter record may still be redriven, ` +
      `${n(r.keptForParkedKey)} a parked key waits behind`,
    `ingest_rejections rows of records rejected at ingest, published before the cutoff: ${n(r.rejectionsPrunable)}`,
  ];
  return lines.join('\n');
}

export function renderProgress(p: PruneProgress): string {
  const rejections = p.rejectionsDeleted > 0 ? `, ${n(p.rejectionsDeleted)} rejection rows` : '';
  return `  deleted ${n(p.deleted)} of ${n(p.prunable)}${rejections} (${p.batches} batch${p.batches === 1 ? '' : 'es'})`;
}

export function renderOutcome(r: PruneReport): string {
  const lines: string[] = [];
  if (r.dryRun)
    lines.push(
      `dry run: would delete ${n(r.prunable)} rows and ${n(r.rejectionsPrunable)} rejection rows; nothing was changed`,
    );
  else
    lines.push(
      `deleted ${n(r.deleted)} rows and ${n(r.rejectionsDeleted)} rejection rows in ${r.batches} batch${r.batches === 1 ? '' : 'es'} of at most ${n(r.batchSize)} ` +
        `(${(r.durationMs / 1000).toFixed(1)}s)${r.interrupted ? ', stopped before the end: run it again to go on' : ''}`,
    );
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
