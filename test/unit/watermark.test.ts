import fc from 'fast-check';
import { PartitionWatermark } from '../../src/ingest/watermark';

/** Tracks the given offsets on a fresh watermark. */
function tracked(offsets: readonly (number | bigint | string)[], maxInFlight?: number): PartitionWatermark {
  const wm = new PartitionWatermark({ maxInFlight });
  for (const o of offsets) wm.track(String(o));
  return wm;
}

describe('PartitionWatermark', () => {
  it('is full at maxInFlight messages not handed off yet; those handed off behind an open one count toward maxWindow only', () => {
    const wm = new PartitionWatermark({ maxInFlight: 4, maxWindow: 6 });
    for (const o of [0, 1, 2, 3]) wm.track(String(o));
    expect(wm.isFull()).toBe(true);
    expect(wm.openCount()).toBe(4);
    // Completions behind an open offset keep their place in the window, but not in maxInFlight:
    // a copy of an applied event must not stop the partition while 0 is slow.
    wm.complete('1');
    wm.complete('2');
    wm.complete('3');
    expect(wm.openCount()).toBe(1);
    expect(wm.inFlight()).toBe(4);
    expect(wm.isFull()).toBe(false);
    wm.track('4');
    wm.track('5');
    // ...up to maxWindow messages in all, however many are handed off.
    expect(wm.inFlight()).toBe(6);
    expect(wm.isFull()).toBe(true);
    expect(wm.hasRoom()).toBe(false);
    wm.complete('0');
    expect(wm.inFlight()).toBe(2);
    expect(wm.isFull()).toBe(false);
    expect(wm.hasRoom()).toBe(true);
  });

  it('bounds the window at 2 × maxInFlight by default, and refuses a window below maxInFlight', () => {
    const wm = tracked([0], 2);
    for (let o = 1; o < 4; o++) {
      expect(wm.isFull()).toBe(false);
      wm.track(String(o));
      wm.complete(String(o));
    }
    expect(wm.inFlight()).toBe(4);
    expect(wm.isFull()).toBe(true);
    expect(() => new PartitionWatermark({ maxInFlight: 4, maxWindow: 3 })).toThrow(RangeError);
  });

  it('counts the bytes of messages not completed yet, and lets one message in when empty', () => {
    const wm = new PartitionWatermark({ maxInFlight: 100, maxInFlightBytes: 1000 });
    expect(wm.isFull()).toBe(false);
    wm.track('0', 5000); // larger than the bound alone: admitted, or the partition never moves
    expect(wm.inFlightBytes()).toBe(5000);
    expect(wm.isFull()).toBe(true);
    wm.complete('0');
    expect(wm.inFlightBytes()).toBe(0);
    expect(wm.isFull()).toBe(false);
    wm.track('1', 600);
    wm.track('2', 400);
    expect(wm.isFull()).toBe(true);
    // A completed message's bytes are no longer held, even behind an open offset.
    wm.complete('2');
    expect(wm.inFlightBytes()).toBe(600);
    expect(wm.isFull()).toBe(false);
    // Resuming needs a quarter of the bytes free: 600 of 1000 held is not enough room yet...
    expect(wm.hasRoom()).toBe(true);
    wm.track('3', 200);
    expect(wm.hasRoom()).toBe(false);
    // ...and a duplicate completion does not subtract twice.
    expect(wm.complete('2')).toBe(false);
    expect(wm.inFlightBytes()).toBe(800);
  });

  it('resumes with hysteresis: a quarter of the window free by count', () => {
    const wm = tracked([0, 1, 2, 3, 4, 5, 6, 7], 8);
    expect(wm.isFull()).toBe(true);
    wm.complete('0');
    expect(wm.isFull()).toBe(false);
    expect(wm.hasRoom()).toBe(false);
    wm.complete('1');
    expect(wm.hasRoom()).toBe(true);
  });

  it('rejects a byte bound below one', () => {
    expect(() => new PartitionWatermark({ maxInFlightBytes: 0 })).toThrow(RangeError);
  });

  it('has nothing to commit before the first completion', () => {
    const wm = new PartitionWatermark();
    expect(wm.committable()).toBeUndefined();
    wm.track('5');
    expect(wm.committable()).toBeUndefined();
    expect(wm.isIdle()).toBe(false);
  });

  it('advances one by one with in-order completion, in Kafka convention (next offset to read)', () => {
    const wm = tracked([0, 1, 2, 3]);
    for (const o of [0, 1, 2, 3]) {
      expect(wm.complete(String(o))).toBe(true);
      expect(wm.committable()).toBe(String(o + 1));
    }
    expect(wm.isIdle()).toBe(true);
  });

  it('never passes an offset still in flight when completions arrive out of order', () => {
    const wm = tracked([0, 1, 2, 3]);
    wm.complete('2');
    wm.complete('3');
    expect(wm.committable()).toBeUndefined();
    wm.complete('0');
    expect(wm.committable()).toBe('1');
    wm.complete('1');
    expect(wm.committable()).toBe('4');
  });

  it('returns undefined until the position moves past the last commit', () => {
    const wm = tracked([0, 1, 2]);
    wm.complete('0');
    expect(wm.committable()).toBe('1');
    wm.markCommitted('1');
    expect(wm.committable()).toBeUndefined();
    wm.complete('2'); // blocked behind 1
    expect(wm.committable()).toBeUndefined();
    wm.complete('1');
    expect(wm.committable()).toBe('3');
  });

  it('ignores a late acknowledgement of an older commit', () => {
    const wm = tracked([0, 1, 2]);
    wm.complete('0');
    wm.complete('1');
    wm.markCommitted('2');
    wm.markCommitted('1');
    expect(wm.committable()).toBeUndefined();
    wm.complete('2');
    expect(wm.committable()).toBe('3');
  });

  it('is not held back by gaps between tracked offsets (compaction, transaction markers)', () => {
    const wm = tracked([5, 7, 10]);
    wm.complete('5');
    // 6 was never delivered: the oldest offset in flight is 7.
    expect(wm.committable()).toBe('7');
    wm.complete('10');
    expect(wm.committable()).toBe('7');
    wm.complete('7');
    expect(wm.committable()).toBe('11');
    wm.markCommitted('11');
    // The next message Kafka delivers is 20, so 11..19 hold nothing to hand off.
    wm.track('20');
    expect(wm.committable()).toBe('20');
  });

  it('reports a full window until the oldest offsets complete', () => {
    const wm = new PartitionWatermark({ maxInFlight: 3, maxWindow: 3 });
    for (const o of [0, 1, 2]) wm.track(String(o));
    expect(wm.inFlight()).toBe(3);
    expect(wm.isFull()).toBe(true);
    wm.complete('1');
    wm.complete('2');
    // Completed, but still in the window: 0 holds the watermark back.
    expect(wm.inFlight()).toBe(3);
    expect(wm.isFull()).toBe(true);
    wm.complete('0');
    expect(wm.inFlight()).toBe(0);
    expect(wm.isFull()).toBe(false);
    expect(wm.isIdle()).toBe(true);
  });

  it('keeps memory bounded by the window over a long run', () => {
    const window = 100;
    const wm = new PartitionWatermark({ maxInFlight: window });
    let next = 0;
    let oldest = 0;
    let maxQueue = 0;
    let maxMap = 0;
    for (let i = 0; i < 20_000; i++) {
      // A sliding window that never drains, completed pairwise out of order.
      while (!wm.isFull()) wm.track(String(next++));
      wm.complete(String(oldest + 1));
      wm.complete(String(oldest));
      oldest += 2;
      // White-box: the backing array and map hold the window, not the history.
      maxQueue = Math.max(maxQueue, wm['queue'].length);
      maxMap = Math.max(maxMap, wm['window'].size);
    }
    expect(next).toBeGreaterThan(40_000);
    expect(maxQueue).toBeLessThanOrEqual(1024 + 2 * window);
    expect(maxMap).toBeLessThanOrEqual(window);
    expect(wm.committable()).toBe(String(oldest));
    while (oldest < next) wm.complete(String(oldest++));
    expect(wm.isIdle()).toBe(true);
    expect(wm['queue'].length).toBe(0);
    expect(wm.committable()).toBe(String(next));
  });

  it('treats unknown, repeated and already released completions as harmless no-ops', () => {
    const wm = tracked([10, 11, 12]);
    expect(wm.complete('9')).toBe(false); // never tracked (before the window)
    expect(wm.complete('13')).toBe(false); // never tracked (after the window)
    expect(wm.complete('11')).toBe(true);
    expect(wm.complete('11')).toBe(false); // completed, still in the window
    expect(wm.complete('10')).toBe(true);
    expect(wm.complete('10')).toBe(false); // released
    expect(wm.committable()).toBe('12');
    expect(wm.inFlight()).toBe(1);
  });

  it('is not affected by completions from the instance it replaced on a rebalance', () => {
    // Generation 1 reads 5..9; hand-offs capture the instance they were tracked on.
    const gen1 = tracked([5, 6, 7, 8, 9]);
    const completeInGen1 = (offset: string) => gen1.complete(offset);
    completeInGen1('5');
    gen1.markCommitted(gen1.committable()!); // committed 6

    // Rebalance: the partition comes back, Kafka redelivers from 6 to a new watermark.
    const gen2 = tracked([6, 7, 8, 9]);
    // Hand-offs that were in flight in generation 1 finish now.
    for (const o of ['6', '7', '8', '9']) completeInGen1(o);
    expect(gen2.committable()).toBeUndefined();
    expect(gen2.inFlight()).toBe(4);
    // Only generation 2's own hand-offs move its watermark.
    gen2.complete('6');
    expect(gen2.committable()).toBe('7');
  });

  it('ignores an offset seen before (kafkajs re-fetched it), in flight or released', () => {
    const wm = tracked([3, 4]);
    expect(wm.track('4')).toBe(false);
    expect(wm.track('2')).toBe(false);
    expect(wm.inFlight()).toBe(2);
    wm.complete('3');
    wm.complete('4');
    expect(wm.committable()).toBe('5');
    // Even once released, an offset does not come back into the window.
    expect(wm.track('4')).toBe(false);
    expect(wm.inFlight()).toBe(0);
    expect(wm.track('5')).toBe(true);
    expect(wm.committable()).toBe('5');
  });

  it('rejects malformed offsets and a bad window', () => {
    const wm = new PartitionWatermark();
    for (const bad of ['', ' 1', '-1', '0x10', '1.5', '1e3', 'abc']) {
      expect(() => wm.track(bad)).toThrow(RangeError);
    }
    expect(() => wm.track('9223372036854775808')).toThrow(/2\^63/);
    expect(() => new PartitionWatermark({ maxInFlight: 0 })).toThrow(RangeError);
    expect(() => new PartitionWatermark({ maxInFlight: 1.5 })).toThrow(RangeError);
  });

  it('handles offsets beyond 2^53 exactly', () => {
    // 2^53 + 1 is not representable as a number: Number('9007199254740993') === 2^53.
    const wm = tracked(['9007199254740992', '9007199254740993', '9007199254740994']);
    wm.complete('9007199254740993');
    expect(wm.complete('9007199254740992')).toBe(true);
    expect(wm.committable()).toBe('9007199254740994');

    const top = tracked(['9223372036854775806']);
    top.complete('9223372036854775806');
    expect(top.committable()).toBe('9223372036854775807');
  });

  /** Offsets with random gaps, starting beyond 2^53. */
  const offsetsArb = fc
    .array(fc.bigInt({ min: 1n, max: 4n }), { minLength: 1, maxLength: 60 })
    .map((steps) => {
      let o = 2n ** 53n - 3n;
      return steps.map((s) => (o += s));
    });

  /** What a correct commit position must satisfy, given the offsets still incomplete. */
  function expectSafeAndTight(position: string, all: bigint[], incomplete: Set<bigint>): void {
    const p = BigInt(position);
    const oldestIncomplete = all.find((o) => incomplete.has(o));
    // Never past an incomplete offset, and not lagging behind the oldest one.
    expect(p).toBe(oldestIncomplete ?? all[all.length - 1]! + 1n);
  }

  it('property: for any order of completions, never commits past an incomplete offset and ends at last + 1', () => {
    fc.assert(
      fc.property(
        offsetsArb.chain((offsets) =>
          fc.tuple(
            fc.constant(offsets),
            fc.shuffledSubarray(offsets, { minLength: offsets.length, maxLength: offsets.length }),
            fc.array(fc.boolean(), { minLength: offsets.length, maxLength: offsets.length }),
          ),
        ),
        ([offsets, completionOrder, commitAfter]) => {
          const wm = tracked(offsets.map(String), offsets.length);
          const incomplete = new Set(offsets);
          let committed: bigint | undefined;
          completionOrder.forEach((o, i) => {
            expect(wm.complete(String(o))).toBe(true);
            incomplete.delete(o);
            const c = wm.committable();
            if (c !== undefined) {
              expectSafeAndTight(c, offsets, incomplete);
              if (committed !== undefined) expect(BigInt(c)).toBeGreaterThan(committed);
              if (commitAfter[i]) {
                wm.markCommitted(c);
                committed = BigInt(c);
              }
            }
          });
          expect(wm.isIdle()).toBe(true);
          const last = offsets[offsets.length - 1]!;
          const final = wm.committable() ?? String(committed);
          expect(final).toBe(String(last + 1n));
        },
      ),
    );
  });

  it('property: tracking interleaved with completions keeps the position safe', () => {
    fc.assert(
      fc.property(offsetsArb, fc.array(fc.nat(), { maxLength: 200 }), (offsets, choices) => {
        const wm = new PartitionWatermark();
        const incomplete = new Set<bigint>();
        const seen: bigint[] = [];
        let next = 0;
        const check = () => {
          const c = wm.committable();
          if (c !== undefined) expectSafeAndTight(c, seen, incomplete);
        };
        const completeAt = (i: number) => {
          const o = [...incomplete][i % incomplete.size]!;
          incomplete.delete(o);
          wm.complete(String(o));
        };
        for (const choice of choices) {
          const o = offsets[next];
          if (o !== undefined && (incomplete.size === 0 || choice % 3 === 0)) {
            wm.track(String(o));
            seen.push(o);
            incomplete.add(o);
            next++;
          } else if (incomplete.size > 0) {
            completeAt(choice);
          }
          check();
          expect(wm.inFlight()).toBeLessThanOrEqual(seen.length);
        }
        while (incomplete.size > 0) {
          completeAt(0);
          check();
        }
        if (seen.length > 0) expect(wm.committable()).toBe(String(seen[seen.length - 1]! + 1n));
      }),
    );
  });
});
