/**
 * The bound on JSON nesting (src/events/json.ts): exactly at the limit is accepted, one level more
 * is refused, in the shortest text that nests that deep (the check skips text too short to).
 */
import { checkJsonDepth, MAX_JSON_DEPTH, parseObject } from '../../src/events/json';

const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

test('JSON nested exactly MAX_JSON_DEPTH deep passes; one level more is refused', () => {
  expect(() => checkJsonDepth(arrays(MAX_JSON_DEPTH))).not.toThrow();
  expect(() => checkJsonDepth(arrays(MAX_JSON_DEPTH + 1))).toThrow(
    `value nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`,
  );
  // In an object, with brackets inside strings that do not count.
  const inObject = `{"a":${arrays(MAX_JSON_DEPTH - 1)},"s":"${'['.repeat(600)}"}`;
  expect(() => parseObject(inObject, undefined)).not.toThrow();
  expect(() => parseObject(`{"a":${arrays(MAX_JSON_DEPTH)}}`, 'ctx')).toThrow(/^ctx: value nests/);
});
