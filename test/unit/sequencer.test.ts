import type { HandOff } from '../../src/ingest/sequencer';
import { KeySequencer, SequencerAbandonedError } from '../../src/ingest/sequencer';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Lets every pending promise callback run, so a test can assert that something
 * did NOT happen. Not a sleep: it waits for no clock, only for the microtask queue.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A fake event: its task records that it started, hands off at once with its
 * name, and closes when the test says so.
 */
class FakeEvent {
  readonly close = deferred();
  started = false;

  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {}

  task = async (): Promise<HandOff<string>> => {
    this.started = true;
    this.log.push(this.name);
    return { handedOff: this.name, closed: this.close.promise };
  };
}

describe('KeySequencer', () => {
  let log: string[];
  const event = (name: string) => new FakeEvent(name, log);

  beforeEach(() => {
    log = [];
  });

  it('starts an event of a key only after the previous one closed, not merely handed off', async () => {
    const seq = new KeySequencer();
    const [a, b, c] = [event('a'), event('b'), event('c')];
    const handedOff = [a, b, c].map((e) => seq.enqueue('k', e.task));

    await expect(handedOff[0]).resolves.toBe('a');
    await settle();
    expect(log).toEqual(['a']);
    expect(seq.size()).toBe(1);

    a.close.resolve();
    await expect(handedOff[1]).resolves.toBe('b');
    await settle();
    expect(log).toEqual(['a', 'b']);

    b.close.resolve();
    await expect(handedOff[2]).resolves.toBe('c');
    expect(log).toEqual(['a', 'b', 'c']);

    c.close.resolve();
    await settle();
    expect(seq.size()).toBe(0);
  });

  it('runs events of different keys concurrently', async () => {
    const seq = new KeySequencer();
    const [a1, b1, a2] = [event('a1'), event('b1'), event('a2')];
    const handedOff = [seq.enqueue('a', a1.task), seq.enqueue('b', b1.task), seq.enqueue('a', a2.task)];

    await expect(Promise.all(handedOff.slice(0, 2))).resolves.toEqual(['a1', 'b1']);
    await settle();
    expect(log).toEqual(['a1', 'b1']);
    expect(seq.size()).toBe(2);

    // b closing does not release a.
    b1.close.resolve();
    await settle();
    expect(a2.started).toBe(false);
    expect(seq.size()).toBe(1);

    a1.close.resolve();
    await expect(handedOff[2]).resolves.toBe('a2');
  });

  it('runs events without a key at once, without tracking them', async () => {
    const seq = new KeySequencer();
    const [x, y] = [event('x'), event('y')];
    await expect(
      Promise.all([seq.enqueue(undefined, x.task), seq.enqueue(undefined, y.task)]),
    ).resolves.toEqual(['x', 'y']);
    expect(seq.size()).toBe(0);
  });

  it('releases the key when the close rejects (workflow failed, or waiting failed)', async () => {
    const seq = new KeySequencer();
    const [a, b] = [event('a'), event('b')];
    const handedOff = [seq.enqueue('k', a.task), seq.enqueue('k', b.task)];
    await handedOff[0];

    a.close.reject(new Error('workflow failed'));
    await expect(handedOff[1]).resolves.toBe('b');
  });

  it('releases the key at hand-off when the task reports nothing to wait for', async () => {
    const seq = new KeySequencer();
    const b = event('b');
    const deadLettered = seq.enqueue('k', async () => ({ handedOff: 'dead-lettered' }));
    const next = seq.enqueue('k', b.task);
    await expect(deadLettered).resolves.toBe('dead-lettered');
    await expect(next).resolves.toBe('b');
  });

  it('keeps the key held when a task rejects, and surfaces the error', async () => {
    const seq = new KeySequencer();
    const b = event('b');
    const failing = seq.enqueue('k', async () => {
      throw new Error('shutting down');
    });
    const next = seq.enqueue('k', b.task);

    await expect(failing).rejects.toThrow('shutting down');
    await settle();
    expect(b.started).toBe(false);
    expect(seq.size()).toBe(1);

    seq.clear();
    await expect(next).rejects.toBeInstanceOf(SequencerAbandonedError);
    expect(b.started).toBe(false);
  });

  it('treats a task that throws synchronously like one that rejects', async () => {
    const seq = new KeySequencer();
    const failing = seq.enqueue('k', () => {
      throw new Error('sync');
    });
    await expect(failing).rejects.toThrow('sync');
    expect(seq.size()).toBe(1);
  });

  it('lets the task retry its own start: the next event waits through the retries', async () => {
    const seq = new KeySequencer();
    const b = event('b');
    const attempts: Deferred<void>[] = [deferred(), deferred(), deferred()];
    const close = deferred();
    // The ingester's shape: retry the start until it succeeds, then hand off.
    const startWithRetry = async (): Promise<HandOff<string>> => {
      for (const [i, attempt] of attempts.entries()) {
        try {
          await attempt.promise;
          return { handedOff: `started after ${i + 1} attempts`, closed: close.promise };
        } catch {
          // back off and retry (the real ingester waits here)
        }
      }
      throw new Error('gave up');
    };
    const a = seq.enqueue('k', startWithRetry);
    const next = seq.enqueue('k', b.task);

    attempts[0]!.reject(new Error('Temporal unavailable'));
    attempts[1]!.reject(new Error('Temporal unavailable'));
    await settle();
    expect(b.started).toBe(false);

    attempts[2]!.resolve();
    await expect(a).resolves.toBe('started after 3 attempts');
    await settle();
    expect(b.started).toBe(false);

    close.resolve();
    await expect(next).resolves.toBe('b');
  });

  it('never starts tasks of an abandoned generation; running ones finish harmlessly', async () => {
    const seq = new KeySequencer();
    const [a, b, c] = [event('a'), event('b'), event('c')];
    const handOffA = deferred();
    const aHandedOff = seq.enqueue('k', async () => {
      await handOffA.promise; // still starting when the rebalance comes
      return a.task();
    });
    const queued = [seq.enqueue('k', b.task), seq.enqueue('k', c.task)];

    seq.clear();
    expect(seq.size()).toBe(0);
    for (const p of queued) await expect(p).rejects.toBeInstanceOf(SequencerAbandonedError);

    // The next generation: the same key, redelivered.
    const [d, e] = [event('d'), event('e')];
    const next = [seq.enqueue('k', d.task), seq.enqueue('k', e.task)];
    await expect(next[0]).resolves.toBe('d');

    // The old generation's start completes and its workflow closes...
    handOffA.resolve();
    await expect(aHandedOff).resolves.toBe('a');
    a.close.resolve();
    await settle();
    // ...which neither starts its own abandoned successors nor releases the new chain.
    expect(b.started).toBe(false);
    expect(c.started).toBe(false);
    expect(e.started).toBe(false);
    expect(log).toEqual(['d', 'a']);
    expect(seq.size()).toBe(1);

    d.close.resolve();
    await expect(next[1]).resolves.toBe('e');
  });

  it('ignores keys when ordering is off', async () => {
    const seq = new KeySequencer({ ordered: false });
    const [a, b] = [event('a'), event('b')];
    await expect(Promise.all([seq.enqueue('k', a.task), seq.enqueue('k', b.task)])).resolves.toEqual([
      'a',
      'b',
    ]);
    expect(seq.size()).toBe(0);
  });

  it('observes a close that nobody waits for, so its rejection is not unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const seq = new KeySequencer({ ordered: false });
      const close = deferred();
      await seq.enqueue('k', async () => ({ handedOff: 1, closed: close.promise }));
      close.reject(new Error('workflow failed'));
      await settle();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('forgets keys whose chains have emptied', async () => {
    const seq = new KeySequencer();
    const events = Array.from({ length: 1000 }, (_, i) => event(`e${i}`));
    const handedOff = events.map((e, i) => seq.enqueue(`key-${i % 100}`, e.task));
    expect(seq.size()).toBe(100);
    for (const [i, e] of events.entries()) {
      await handedOff[i];
      e.close.resolve();
    }
    await settle();
    expect(seq.size()).toBe(0);
    expect(log).toHaveLength(1000);
  });
});
