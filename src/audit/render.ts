/** The audit report as an operator reads it: a table per partition and in total, then the details. */
import type { AuditReport, ClassCounts, DuplicateCause } from './types';

const COLUMNS: [keyof ClassCounts, string][] = [
  ['records', 'records'],
  ['applied', 'applied'],
  ['duplicate', 'duplicates'],
  ['dead_lettered', 'dead-lettered'],
  ['parked', 'parked'],
  ['in_progress', 'in progress'],
  ['not_yet_consumed', 'not yet consumed'],
  ['unaccounted', 'unaccounted'],
  ['doubleEffects', 'double effects'],
];

const CAUSES: [DuplicateCause, string][] = [
  ['producer_retry', 'producer retry (same bytes and timestamp)'],
  ['sent_again', 'sent again (same bytes, later timestamp)'],
  ['other_content', 'other content under the same id (not applied)'],
  ['not_read', 'copy of a record outside the range'],
];

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
    )
    .join('\n');
}

export function formatReport(r: AuditReport): string {
  const from = r.since ? `from ${r.since}` : 'from the beginning';
  const to = r.toEnd ? 'to the end' : `up to group ${r.groupId}'s committed offsets`;
  const lines = [`audit of ${r.topics.join(', ')}, ${from} ${to}`, ''];
  const rows = [['partition', ...COLUMNS.map(([, h]) => h)]];
  for (const p of r.partitions)
    rows.push([`${p.topic}[${p.partition}] ${p.start}..${p.end}`, ...COLUMNS.map(([k]) => String(p[k]))]);
  rows.push(['total', ...COLUMNS.map(([k]) => String(r.total[k]))]);
  lines.push(table(rows), '');
  const causes = CAUSES.filter(([c]) => r.duplicateCauses[c] > 0).map(
    ([c, what]) => `${r.duplicateCauses[c]} ${what}`,
  );
  if (causes.length) lines.push(`duplicates: ${causes.join('; ')}`);
  lines.push(`handler checks: ${r.handlerChecks}`);
  if (r.unaccounted.length) {
    lines.push('', `unaccounted offsets (first ${r.unaccounted.length} of ${r.total.unaccounted}):`);
    for (const u of r.unaccounted)
      lines.push(`  ${u.topic}[${u.partition}]@${u.offset}  ${u.dedupKey ?? '(no event)'}  ${u.detail}`);
  }
  if (r.violations.length) {
    lines.push('', `double effects (first ${r.violations.length} of ${r.total.doubleEffects}):`);
    for (const v of r.violations)
      lines.push(
        `  ${v.by}: ${v.check}  ${v.at ? `${v.at.topic}[${v.at.partition}]@${v.at.offset}  ` : ''}${v.dedupKey ?? ''}` +
          `\n    ${v.detail}`,
      );
  }
  lines.push(
    '',
    r.ok
      ? `OK: every offset is accounted for and no effect was applied twice (${(r.elapsedMs / 1000).toFixed(1)} s)`
      : `FAILED: ${r.total.unaccounted} unaccounted offset(s), ${r.total.doubleEffects} double effect(s)`,
  );
  return lines.join('\n');
}
