/** The audit's counts per partition, and the first unaccounted offsets and violations in detail. */
import {
  OFFSET_CLASSES,
  type AuditViolation,
  type ClassCounts,
  type Coords,
  type UnaccountedOffset,
  type Verdict,
} from './types';

export function emptyCounts(): ClassCounts {
  const counts = { records: 0, doubleEffects: 0 } as ClassCounts;
  for (const c of OFFSET_CLASSES) counts[c] = 0;
  return counts;
}

const partKey = (topic: string, partition: number) => `${topic}:${partition}`;

export class Tally {
  readonly total = emptyCounts();
  readonly unaccounted: UnaccountedOffset[] = [];
  readonly violations: AuditViolation[] = [];
  private readonly parts = new Map<string, ClassCounts>();
  /** Violations already counted, by who found them, check and event (a handler's check of events
   * runs per batch, and one event's copies may fall into several). */
  private readonly found = new Set<string>();

  constructor(private readonly limit: number) {}

  /** The counts of one partition (created empty on first use). */
  partition(topic: string, partition: number): ClassCounts {
    const key = partKey(topic, partition);
    let c = this.parts.get(key);
    if (!c) this.parts.set(key, (c = emptyCounts()));
    return c;
  }

  /** Records counted without being read (past the committed offset). */
  unread(topic: string, partition: number, n: number): void {
    const c = this.partition(topic, partition);
    for (const counts of [c, this.total]) {
      counts.records += n;
      counts.not_yet_consumed += n;
    }
  }

  add(at: Coords, v: Verdict, dedupKey?: string): void {
    for (const counts of [this.partition(at.topic, at.partition), this.total]) {
      counts.records++;
      counts[v.class]++;
    }
    if (v.class === 'unaccounted' && this.unaccounted.length < this.limit)
      this.unaccounted.push({ ...at, ...(dedupKey ? { dedupKey } : {}), detail: v.detail ?? '' });
  }

  /** A violation, counted against the partition of the event's record when it is audited. */
  violation(v: AuditViolation): void {
    if (v.dedupKey !== undefined) {
      const key = `${v.by}|${v.check}|${v.dedupKey}`;
      if (this.found.has(key)) return;
      this.found.add(key);
    }
    if (v.at && this.parts.has(partKey(v.at.topic, v.at.partition)))
      this.partition(v.at.topic, v.at.partition).doubleEffects++;
    this.total.doubleEffects++;
    if (this.violations.length < this.limit) this.violations.push(v);
  }
}
