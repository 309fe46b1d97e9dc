/**
 * Commits, on a timer, when a partition's window empties, and at shutdown, each partition's
 * watermark: the offset below which every record was durably handed off. kafkajs' auto-commit is
 * off; this is the only place offsets are committed.
 */
import type { Consumer } from 'kafkajs';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { PartitionState } from './partition';

/** How long {@link OffsetCommitter.commitSoon} waits, so that the completions of one turn of the
 * batch loop share one commit. */
const SOON_MS = 10;

export class OffsetCommitter {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private stopped = false;
  private committing: Promise<void> | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly partitions: () => Iterable<PartitionState>,
    private readonly deps: { metrics: Metrics; log: Logger },
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.commit(), intervalMs);
  }

  /** Stops the timers and commits once more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.commit();
  }

  /**
   * A commit within milliseconds instead of at the next tick: the ingester asks when a partition's
   * window empties (every record read was handed off), so a consumer that has caught up commits at
   * once rather than up to an interval later, and a restart then reads nothing again. Calls before
   * it runs share it.
   */
  commitSoon(): void {
    if (this.soon !== undefined || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.commit();
    }, SOON_MS);
  }

  /** One commit of every partition whose watermark moved; concurrent calls share it. */
  commit(): Promise<void> {
    this.committing ??= this.commitOnce().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  private async commitOnce(): Promise<void> {
    const pending = [...this.partitions()]
      .filter((s) => !s.abandoned)
      .map((s) => ({ s, offset: s.watermark.committable() }))
      .filter((p): p is { s: PartitionState; offset: string } => p.offset !== undefined);
    if (pending.length === 0) return;
    try {
      await this.consumer.commitOffsets(
        pending.map(({ s, offset }) => ({ topic: s.topic, partition: s.partition, offset })),
      );
      for (const { s, offset } of pending) {
        s.watermark.markCommitted(offset);
        this.deps.metrics.offsetCommits.inc({ topic: s.topic });
      }
    } catch (err) {
      // A rebalance in progress, or Kafka unreachable: the next tick tries again.
      this.deps.log.warn({ err }, 'offset commit failed; will retry');
    }
  }
}
