/**
 * The boundary of per-key ordering where the process has the store (`idem consume`):
 * an event is settled once the store records its effect as applied or the event as
 * dead-lettered. The key's next event waits for that, not for the workflow to close.
 *
 * One query per tick asks about every event being waited on, instead of one
 * `result()` long poll per event on the Temporal server, the scarce resource (on the
 * reference machine the long polls cost about 8 % of idem's throughput). Where the
 * process's own worker reports what it commits (`idem consume`, {@link LocalSettlements}),
 * those events go on without a query, and the store is asked about an event only now and
 * then, for those another process settles. An event
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
  /**
   * This process also learns of settlements itself ({@link SettlementWatch.settle}: its own
   * worker's commits, which with eager starts are nearly all of its events). The store is then
   * asked about an event only as a safety net for those another process settles: first
   * `firstAskAfterMs` after the wait began, then each time twice as long after the last ask, at
   * most `maxAskIntervalMs` apart. Without it every tick asks about every event waited on.
   */
  localNotices?: { firstAskAfterMs?: number; maxAskIntervalMs?: number };
}

interface Waiter {
  done: (as: Settled) => void;
  fallback: NodeJS.Timeout;
}

/** The waiters of one dedup key, and when the store is next asked about it. */
interface Entry {
  waiters: Set<Waiter>;
  /** Epoch ms; 0 when every tick asks. */
  nextAskAt: number;
  /** The gap before the next ask (with local notices). */
  gap: number;
}

/** Keys asked about in one query at most. */
const MAX_KEYS_PER_QUERY = 5_000;

export class SettlementWatch {
  private readonly waiters = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (epoch ms). */
  private timerAt = 0;
  private querying = false;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly fallbackAfterMs: number;
  private readonly firstAskAfterMs: number | undefined;
  private readonly maxAskIntervalMs: number;

  constructor(private readonly o: SettlementWatchOptions) {
    this.intervalMs = o.intervalMs ?? 20;
    this.fallbackAfterMs = o.fallbackAfterMs ?? 10_000;
    this.firstAskAfterMs = o.localNotices ? (o.localNotices.firstAskAfterMs ?? 250) : undefined;
    this.maxAskIntervalMs = o.localNotices?.maxAskIntervalMs ?? 1_000;
  }

  /**
   * Resolves once the event of `dedupKey` is settled, or, after the fallback delay, once
   * `closed()` (its workflow's close, however it ended) resolves (`'closed'`). Never rejects.
   */
  settled(dedupKey: string, closed: () => Promise<unknown>): Promise<Settled> {
    return new Promise<Settled>((resolve) => {
      let entry = this.waiters.get(dedupKey);
      if (!entry) {
        const gap = this.firstAskAfterMs ?? 0;
        entry = { waiters: new Set(), nextAskAt: gap === 0 ? 0 : Date.now() + gap, gap };
        this.waiters.set(dedupKey, entry);
      }
      const e = entry;
      const waiter: Waiter = {
        done: (as) => {
          clearTimeout(waiter.fallback);
          e.waiters.delete(waiter);
          if (e.waiters.size === 0 && this.waiters.get(dedupKey) === e) this.waiters.delete(dedupKey);
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
      e.waiters.add(waiter);
      this.schedule(e.nextAskAt);
    });
  }

  /** The event of `dedupKey` settled, as this process knows without asking (its own worker
   * committed it): whoever waits on it goes on at once. */
  settle(dedupKey: string, as: 'applied' | 'dead_lettered'): void {
    const entry = this.waiters.get(dedupKey);
    if (entry) for (const w of [...entry.waiters]) w.done(as);
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
    for (const e of this.waiters.values()) for (const w of e.waiters) clearTimeout(w.fallback);
    this.waiters.clear();
  }

  /** Makes sure a tick comes by `askAt` (0: the next interval). */
  private schedule(askAt: number): void {
    if (this.stopped || this.querying || this.waiters.size === 0) return;
    const at = Math.max(askAt, Date.now() + this.intervalMs);
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => void this.tick(), at - Date.now());
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.querying = true;
    let next = Infinity;
    try {
      const now = Date.now();
      const keys: string[] = [];
      for (const [key, e] of this.waiters) {
        if (e.nextAskAt > now) next = Math.min(next, e.nextAskAt);
        else {
          keys.push(key);
          if (this.firstAskAfterMs !== undefined) {
            e.gap = Math.min(this.maxAskIntervalMs, e.gap * 2);
            e.nextAskAt = now + e.gap;
            next = Math.min(next, e.nextAskAt);
          }
        }
      }
      for (let i = 0; i < keys.length && !this.stopped; i += MAX_KEYS_PER_QUERY) {
        const settled = await this.o.findSettled(keys.slice(i, i + MAX_KEYS_PER_QUERY));
        for (const [key, as] of settled) this.settle(key, as);
      }
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      this.querying = false;
      this.schedule(this.firstAskAfterMs === undefined || next === Infinity ? 0 : next);
    }
  }
}

/** What a process's own worker settles, told to its own ingester (`idem consume`): the worker's
 * applyEvent reports each commit, and the ingester's watch goes on without asking the store. */
export class LocalSettlements {
  private readonly listeners = new Set<(dedupKey: string, as: 'applied' | 'dead_lettered') => void>();

  report(dedupKey: string, as: 'applied' | 'dead_lettered'): void {
    for (const l of this.listeners) l(dedupKey, as);
  }

  /** Calls `fn` on every report until the returned function is called. */
  listen(fn: (dedupKey: string, as: 'applied' | 'dead_lettered') => void): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }
}
