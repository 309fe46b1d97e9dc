/**
 * Fault scenario (issue 9): PostgreSQL stopped with `pg_ctl stop -m immediate` (what a crash or a
 * failover does to open connections) under two `idem consume` processes on a keyed backlog; one
 * of them leaves during the outage (a rebalance with the store down) and a third starts while it
 * is down. Checked afterwards: no process died, and the checks of support.ts.
 */
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stopPostgres } from '../../src/stack/postgres';
import { stackUp } from '../../src/stack/stack';
import { createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import {
  alive,
  consumers,
  EVENTS,
  exited,
  expectCleanStops,
  expectExactlyOnce,
  requireBuild,
  twoConsumersAtWork,
} from './support';

let p: Pipeline;
const procs = consumers(() => p);
const stackConfig = loadConfig();

beforeAll(async () => {
  requireBuild();
  p = await createPipeline('faults-pg');
}, 120_000);

afterAll(async () => {
  // Whatever happened, PostgreSQL runs again for the tests after this one.
  await stackUp({ config: stackConfig }).catch(() => undefined);
  procs.killAll();
  await p?.close();
}, 300_000);

test(`PostgreSQL stopped -m immediate under two consumers, one leaving and one starting meanwhile: ${EVENTS} events, none lost, none twice, in key order`, async () => {
  const { a, b, records, expected } = await twoConsumersAtWork(p, procs);

  await stopPostgres(layoutFor(stackConfig.cacheDir), 'immediate');
  const downAt = Date.now();
  // B leaves during the outage (A takes its partitions while the store is down); C starts while it is down.
  b.child.kill('SIGTERM');
  const c = procs.start('C');
  await eventually(
    () => c.logs().includes('PostgreSQL is not reachable'),
    60_000,
    'C waiting for PostgreSQL',
  );
  await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - downAt))));
  expect(alive(a)).toBe(true);
  expect(alive(c)).toBe(true);
  await stackUp({ config: stackConfig });
  const outageSeconds = Math.round((Date.now() - downAt) / 1000);

  await expectExactlyOnce(p, expected);
  process.stderr.write(`\nconsumer logs: ${procs.logDir}\n`);
  expect(await exited(b)).toBe(0);
  expect(alive(a)).toBe(true);
  expect(alive(c)).toBe(true);
  await expectCleanStops([a, b, c]);
  process.stderr.write(
    `\nfault pg-outage: ${records} records, ${EVENTS} unique, ${records - EVENTS} duplicates produced; ` +
      `PostgreSQL down ${outageSeconds} s; applied ${EVENTS}, lost 0, double 0; consumers alive throughout\n`,
  );
}, 1_200_000);
