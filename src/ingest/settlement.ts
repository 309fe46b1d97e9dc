/**
 * The boundary of per-key ordering where the process has the store (`idem consume`):
 * an event is settled once the store records its effect as applied or the event as
 * dead-lettered. The key's next event waits for that, not for the workflow to close.
 *
 * One query per tick asks about every event being waited on, instead of one
 * `result()` long poll per event on the Temporal server, the scarce resource (on the
 * reference machine the long polls cost about 8 % of idem's throughput). An event
 * still unsettled after `fallbackAfterMs` also waits for its workflow to close, as
 * before: a workflow terminated, cancelled or failed without a store row still releases
 * its key.
 */

/** How an event settled: in the store, or (after the fallback delay) by its workflow closing. */
export type Settled = 'applied' | 'dead_lettered' | 'closed';

export interface SettlementWatchOptions {
  /** Which of these dedup keys the store records as applied or dead-lettered, and which. */
  findSettled: (dedupKeys: string[]) => Promise<Map<string, 'applied' | 'dead_lettered'>>;
  /** Between two queries while something is waited on. @default 20 */
  intervalMs?: number;
  /** When an unsettled event also waits for its workflow to close. @default 10000 */
  fallbackAfterMs?: number;
  /** A failed query (PostgreSQL down): logged; the next tick tries again. */
  onError?: (err: unknown) => void;
}

interface Waiter {
  done: (as: Settled) => void;
  fallback: NodeJS.Timeout;
}

/** Keys asked about in one query at most. */
const MAX_KEYS_PER_QUERY = 5_000;

export class SettlementWatch {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | undefined;
  private querying = false;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly fallbackAfterMs: number;

  constructor(private readonly o: SettlementWatchOptions) {
    this.intervalMs = o.intervalMs ?? 20;
    this.fallbackAfterMs = o.fallbackAfterMs ?? 10_000;
  }

  /**
   * Resolves once the event of `dedupKey` is settled, or, after the fallback delay, once
   * `closed()` (its workflow's close, however it ended) resolves (`'closed'`). Never rejects.
   */
  settled(dedupKey: string, closed: () => Promise<unknown>): Promise<Settled> {
    return new Promise<Settled>((resolve) => {
      let waiting = this.waiters.get(dedupKey);
      if (!waiting) {
        waiting = new Set();
        this.waiters.set(dedupKey, waiting);
      }
      const set = waiting;
      const waiter: Waiter = {
        done: (as) => {
          clearTimeout(waiter.fallback);
          set.delete(waiter);
          if (set.size === 0 && this.waiters.get(dedupKey) === set) this.waiters.delete(dedupKey);
          resolve(as);
        },
        // closed() rejects only when the wait was abandoned (shutdown, or a rebalance took the
        // partition): that is no close, so the event stays waited on in the store.
        fallback: setTimeout(() => {
          void closed().then(
            () => waiter.done('closed'),
            () => undefined,
          );
        }, this.fallbackAfterMs),
      };
      set.add(waiter);
      this.schedule();
    });
  }

  /** Events waited on (for tests and metrics). */
  size(): number {
    return this.waiters.size;
  }

  /**
   * No more queries. What is waited on is dropped, never released: releasing would start a
   * key's next event out of order while the ingester shuts down.
   */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const set of this.waiters.values()) for (const w of set) clearTimeout(w.fallback);
    this.waiters.clear();
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined || this.querying || this.waiters.size === 0) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.querying = true;
    try {
      const keys = [...this.waiters.keys()];
      for (let i = 0; i < keys.length && !this.stopped; i += MAX_KEYS_PER_QUERY) {
        const settled = await this.o.findSettled(keys.slice(i, i + MAX_KEYS_PER_QUERY));
        for (const [key, as] of settled) for (const w of this.waiters.get(key) ?? []) w.done(as);
      }
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      this.querying = false;
      this.schedule();
    }
  }
}
