/**
 * How `idem bench`'s options shape the idem scenarios it runs (the runs themselves need the
 * stack: `idem bench`).
 */
import type { IdemScenarioOptions } from '../../src/bench/idem-scenario';
import { SCENARIOS, type BenchOptions } from '../../src/bench/run';
import { parseConfig } from '../../src/config';

const asked: IdemScenarioOptions[] = [];
jest.mock('../../src/bench/idem-scenario', () => ({
  runIdemScenario: async (o: IdemScenarioOptions) => {
    asked.push(o);
    return { name: o.name };
  },
}));

const options = (over: Partial<BenchOptions> = {}): BenchOptions => ({
  config: parseConfig({ KAFKA_TOPICS: 'bench' }),
  events: 1000,
  rate: 'max',
  keys: 1000,
  payloadBytes: 256,
  ordering: true,
  only: [],
  sweepSeconds: 0,
  p99TargetMs: 200,
  outDir: '/nonexistent',
  out: () => undefined,
  ...over,
});

const run = async (name: string, over: Partial<BenchOptions> = {}) => {
  asked.length = 0;
  await SCENARIOS[name]?.(options(over));
  return asked[0] as IdemScenarioOptions;
};

test('by default every idem scenario sends --events records', async () => {
  expect(await run('idem-unique')).toMatchObject({ name: 'idem unique', events: 1000, duplicateShare: 0 });
  expect(await run('idem-dup90')).toMatchObject({
    name: 'idem 90% duplicates',
    events: 1000,
    duplicateShare: 0.9,
  });
});

test('--same-unique-events: a duplicate scenario carries --events unique events plus their copies', async () => {
  const same = { sameUniqueEvents: true };
  expect(await run('idem-dup90', same)).toMatchObject({
    name: 'idem 90% duplicates, same unique events',
    events: 10_000,
  });
  expect(await run('idem-dup50', same)).toMatchObject({ events: 2000 });
  expect(await run('idem-unique', same)).toMatchObject({ name: 'idem unique', events: 1000 });
});
