/**
 * "No effect applied twice", as far as idem's own records can tell. processed_events cannot hold
 * two rows for one event, so what can go wrong is the story its row and the dead-letter topic
 * tell together:
 * - an event applied without a redrive, yet dead-lettered: a dead-letter record stands for an
 *   effect that is committed (an attempt committed and its completion was lost, then the run
 *   dead-lettered it), or the event was applied outside a redrive after it was dead-lettered;
 * - more dead-letterings in the topic (distinct `idem-dead-letter-id`s; copies of one are fine)
 *   than the row counted, or fewer (records lost, or deleted by the topic's retention);
 * - a redrive count no dead-lettering explains: only a dead-lettered row can be claimed by a
 *   redrive, and once claimed it is applied for good, so an applied row has at most one redrive
 *   and only after a dead-lettering, and a dead-lettered row none.
 */
import type { EffectViolation } from '../activities/handlers/audit';
import type { ProcessedSummary } from '../store/sql/find-processed';

export function checkDeadLetterings(
  row: Pick<ProcessedSummary, 'dedupKey' | 'status' | 'deadLetteredCount' | 'redriveCount'>,
  ids: ReadonlySet<string>,
): EffectViolation[] {
  const out: EffectViolation[] = [];
  const found = ids.size;
  const counted = row.deadLetteredCount;
  const add = (check: string, detail: string) => out.push({ check, dedupKey: row.dedupKey, detail });
  if (row.status === 'applied' && row.redriveCount === 0 && (found > 0 || counted > 0))
    add(
      'applied_without_redrive',
      `applied without a redrive, yet dead-lettered (${found} in the dead-letter topic, ${counted} counted ` +
        'by the store): a dead-letter record stands for a committed effect (redriving it is a harmless duplicate)',
    );
  if (found > counted)
    add(
      'extra_dead_letterings',
      `the dead-letter topic holds ${found} dead-letterings of the event, the store counted ${counted}`,
    );
  else if (found > 0 && found < counted)
    add(
      'missing_dead_letterings',
      `the store counted ${counted} dead-letterings of the event, the dead-letter topic holds ${found} ` +
        '(records lost, or deleted by the topic’s retention)',
    );
  const allowed = row.status === 'applied' ? Math.min(1, counted) : 0;
  if (row.redriveCount > allowed)
    add(
      'redrive_count_inconsistent',
      `redrive_count ${row.redriveCount} with status ${row.status} and ${counted} dead-lettering(s): ` +
        'a redrive claims only a dead-lettered row, once',
    );
  return out;
}
