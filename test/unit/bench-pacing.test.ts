import fc from 'fast-check';
import { dueCount, sendOffsetMs, sendSchedule } from '../../src/bench/pacing';

describe('the open-loop schedule', () => {
  it('spaces records 1/rate apart from the start', () => {
    expect(sendSchedule(5, 100)).toEqual([0, 10, 20, 30, 40]);
    expect(sendSchedule(3, 3)).toEqual([0, 1000 / 3, 2000 / 3]);
    expect(sendSchedule(0, 10)).toEqual([]);
  });

  it('has record 0 due at once and none before the start', () => {
    expect(dueCount(0, 10, 5)).toBe(1);
    expect(dueCount(-1, 10, 5)).toBe(0);
    expect(dueCount(0, 10, 0)).toBe(0);
  });

  it('counts the records whose time has come, never more than there are', () => {
    expect(dueCount(99, 10, 5)).toBe(1);
    expect(dueCount(100, 10, 5)).toBe(2);
    expect(dueCount(250, 10, 5)).toBe(3);
    expect(dueCount(60_000, 10, 5)).toBe(5);
  });

  it('makes a record due exactly at its own send time, whatever the rounding', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 1e6, noNaN: true }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.nat({ max: 99_999 }),
        (rate, count, n) => {
          const i = n % count;
          const at = sendOffsetMs(i, rate);
          expect(dueCount(at, rate, count)).toBe(i + 1);
          if (at > 0) expect(dueCount(at - Math.max(at * 1e-9, 1e-9), rate, count)).toBeLessThanOrEqual(i);
        },
      ),
    );
  });

  it('rejects a rate that is not a positive number', () => {
    expect(() => dueCount(0, 0, 5)).toThrow(RangeError);
    expect(() => sendSchedule(5, Number.NaN)).toThrow(RangeError);
    expect(() => sendSchedule(1.5, 10)).toThrow(RangeError);
  });
});
