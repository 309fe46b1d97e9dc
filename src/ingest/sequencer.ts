/**
 * Per-key ordering within one partition, so one key's effects apply in order: the workflow
 * of an event is not started until the workflow of the previous event with
 * the same key has closed. Events of different keys, and events without a
 * key, run concurrently.
 *
 * Each event is a task the ingester enqueues in offset order. The task hands
 * the event off (starts its workflow, confirms a duplicate, or dead-letters
 * it) and reports a `closed` promise: the key's next task starts once that
 * settles. The promise {@link KeySequencer.enqueue} returns resolves at
 * hand-off, which is when the ingester completes the offset in its
 * PartitionWatermark, so commits are not held back by running workflows.
 *
 * A task that rejects keeps its key: later events of that key stay queued,
 * because starting them would break the order. The ingester's task
 * therefore retries its start itself (with backoff, forever) and only gives
 * up when the ingester is shutting down or rebalancing, which ends with
 * {@link KeySequencer.clear}.
 *
 * One instance serves one partition assignment; clear() abandons it.
 */
import { SequencerAbandonedError } from '../errors';

/** What a task reports once its event is handed off. */
export interface HandOff<T> {
  /** The value the promise from {@link KeySequencer.enqueue} resolves with. */
  handedOff: T;
  /**
   * Settles when the event's workflow has closed; the key's next event waits
   * for it. Rejecting counts as closed (a failed workflow, or an error while
   * waiting, still ends this event's turn). Omit it when there is nothing to
   * wait for, e.g. a dead-lettered event.
   */
  closed?: Promise<unknown>;
}

export type SequencedTask<T> = () => Promise<HandOff<T>>;

export interface KeySequencerOptions {
  /**
   * Whether events of the same key wait for each other. When false, keys are
   * ignored and every task starts at once.
   * @default true
   */
  ordered?: boolean;
}

// Rejection of tasks still queued when clear() abandoned them; they never started, so
// there is nothing to undo.
export { SequencerAbandonedError };

interface Entry {
  run: () => Promise<HandOff<unknown>>;
  resolve: (handedOff: unknown) => void;
  reject: (err: unknown) => void;
}

/** The events of one key: at most one running (`busy`), the rest queued. */
interface Chain {
  readonly key: string;
  readonly queue: Entry[];
  busy: boolean;
}

export class KeySequencer {
  readonly ordered: boolean;
  private chains = new Map<string, Chain>();

  constructor(opts: KeySequencerOptions = {}) {
    this.ordered = opts.ordered ?? true;
  }

  /**
   * Runs `task` once every earlier task of `key` has closed (at once for an
   * undefined key, or when ordering is off). Resolves with the task's
   * `handedOff`; rejects with the task's error (and the key stays held, see
   * the module comment) or with {@link SequencerAbandonedError}.
   */
  enqueue<T>(key: string | undefined, task: SequencedTask<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { run: task, resolve: resolve as (handedOff: unknown) => void, reject };
      if (!this.ordered || key === undefined) {
        void launch(entry, noop);
        return;
      }
      let chain = this.chains.get(key);
      if (chain === undefined) {
        chain = { key, queue: [], busy: false };
        this.chains.set(key, chain);
      }
      chain.queue.push(entry);
      if (!chain.busy) this.next(chain);
    });
  }

  /** Keys with a task running, awaiting its close, or queued (for metrics). */
  size(): number {
    return this.chains.size;
  }

  /**
   * Abandons everything, on a rebalance or at shutdown. Queued tasks never
   * start; their promises reject with {@link SequencerAbandonedError}. Tasks
   * already running finish and resolve as usual, but their closes no longer
   * release anything here. A later enqueue of the same key does not wait for
   * them: after a rebalance the event is redelivered, its start finds the
   * existing workflow, and its `closed` waits on that workflow, which keeps
   * the order.
   */
  clear(): void {
    const abandoned = this.chains;
    this.chains = new Map();
    for (const chain of abandoned.values()) {
      for (const entry of chain.queue.splice(0)) entry.reject(new SequencerAbandonedError(chain.key));
    }
  }

  /** Starts the chain's next task, or forgets the key when none is left. */
  private next(chain: Chain): void {
    const entry = chain.queue.shift();
    if (entry === undefined) {
      chain.busy = false;
      // Memory stays bounded by the keys in flight. An abandoned chain is no
      // longer in the map, and a newer chain of the same key may be.
      if (this.chains.get(chain.key) === chain) this.chains.delete(chain.key);
      return;
    }
    chain.busy = true;
    // If clear() abandons the chain meanwhile, it empties its queue, so this
    // release starts nothing.
    void launch(entry, () => this.next(chain));
  }
}

/**
 * Runs one task and settles its caller's promise. `release` is called when
 * the event's `closed` settles, either way; it is never called if the task
 * rejects, which keeps the key held. Never rejects.
 */
async function launch(entry: Entry, release: () => void): Promise<void> {
  let handOff: HandOff<unknown>;
  try {
    // Called synchronously (before the first await), so a task starts in the
    // same tick as the enqueue or close that let it run.
    handOff = await entry.run();
  } catch (err) {
    entry.reject(err);
    return;
  }
  entry.resolve(handOff.handedOff);
  // Always observe `closed`, even when nothing waits for it, so its rejection
  // is never an unhandled one.
  if (handOff.closed === undefined) release();
  else void handOff.closed.then(release, release);
}

function noop(): void {}
