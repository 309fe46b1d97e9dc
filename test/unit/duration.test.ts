import fc from 'fast-check';
import { InvalidArgumentError } from '../../src/errors';
import { formatDuration, parseDuration } from '../../src/observability/duration';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1h 30m 15s', 5_415_000],
    ['1.5h', 5_400_000],
    [' 90S ', 90_000],
    ['0s', 0],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '5', '5 minutes', 'm', '-5m', '5m junk', '5x', '1h-30m', 'ms'])(
    '%j is refused with the expected forms and the option named',
    (text) => {
      expect(() => parseDuration(text, '--older-than')).toThrow(InvalidArgumentError);
      expect(() => parseDuration(text, '--older-than')).toThrow(
        /--older-than .*expected a duration such as 30s, 5m, 2h/,
      );
    },
  );

  test('a formatted duration parses back to itself, cut to its two largest units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 * 86_400 }), (seconds) => {
        const back = parseDuration(formatDuration(seconds * 1000));
        const cut = seconds < 3_600 ? 1 : seconds < 86_400 ? 60 : 3_600;
        expect(back).toBe(Math.floor(seconds / cut) * cut * 1000);
      }),
    );
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0s'],
    [-1_500, '0s'],
    [Number.NaN, '0s'],
    [850, '850ms'],
    [1_000, '1s'],
    [42_900, '42s'],
    [60_000, '1m 00s'],
    [245_000, '4m 05s'],
    [3_600_000, '1h 00m'],
    [7_380_000, '2h 03m'],
    [86_400_000, '1d 00h'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 04h'],
  ])('%d ms is %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
