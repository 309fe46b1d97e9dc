/**
 * PostgreSQL unreachable on the real stack (through a proxy the test cuts): events
 * keep arriving, their workflows retry past the attempt budget without being
 * dead-lettered, and when the database is back each is applied exactly once.
 */
import crypto from 'node:crypto';
import { workflowIdFor } from '../../src/events/identity';
import {
  createPipeline,
  ceRecord,
  allCommitted,
  ledger,
  metricValue,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';
import { readAll } from '../support/kafka';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

let p: Pipeline;
let proxy: TcpProxy;
let viaProxy: string;

beforeAll(async () => {
  p = await createPipeline('outage', {
    IDEM_MAX_ATTEMPTS: '2',
    IDEM_RETRY_INITIAL_MS: '100',
    IDEM_RETRY_MAX_MS: '300',
  });
  const db = new URL(p.db.url);
  proxy = await startTcpProxy(db.hostname, Number(db.port));
  const url = new URL(p.db.url);
  url.port = String(proxy.port);
  viaProxy = url.toString();
}, 60_000);

afterAll(async () => {
  await p?.close();
  await proxy?.close();
});

test('events arriving while PostgreSQL is down wait for it and are then applied once, none dead-lettered', async () => {
  // The worker reaches PostgreSQL only through the proxy; the test reads it directly.
  const proc = await p.start(['ingester', 'worker'], undefined, { DATABASE_URL: viaProxy });
  const acct = `outage-${crypto.randomUUID()}`;
  // One event per partition first: the ingester reads each partition's parked keys from the
  // store once per generation, before it starts a keyed event (it cannot know a key is not
  // parked while the store is down).
  const warm = [0, 1, 2].map((partition) => ({
    ...ceRecord(
      p.source,
      {
        id: `${acct}-warm-${partition}`,
        type: 'account.credited',
        data: { account: `warm-${acct}`, amount: 1 },
      },
      `${acct}-warm-${partition}`,
    ),
    partition,
  }));
  await p.producer.send({ topic: p.topic, messages: warm });
  await eventually(
    async () => (await ledger(p, `warm-${acct}`)).entries === 3,
    60_000,
    'the warm-up events applied',
  );
  const startedBefore = await metricValue(proc, 'idem_workflows_started_total', `topic="${p.topic}"`);
  await proxy.cut();
  const events = Array.from({ length: 10 }, (_, i) => ({
    id: `${acct}-${i}`,
    type: 'account.credited',
    data: { account: acct, amount: 10 },
  }));
  await p.producer.send({
    topic: p.topic,
    messages: events.map((e) => ceRecord(p.source, e, `${acct}-${e.id}`)),
  });

  // Every workflow is started and waits; the attempt budget (2) is spent several times over.
  // (Their offsets are committed only once they settle: keyed events, with ordering.)
  await eventually(
    async () =>
      (await metricValue(proc, 'idem_workflows_started_total', `topic="${p.topic}"`)) - startedBefore === 10,
    60_000,
    'all ten workflows started',
  );
  const first = p.temporal.workflow.getHandle(workflowIdFor(p.source, events[0]!.id));
  await eventually(
    async () => (await first.describe()).searchAttributes.IdemOutcome?.[0] === 'store_unavailable',
    60_000,
    'the first workflow to report the outage',
  );
  expect((await first.describe()).status.name).toBe('RUNNING');

  await proxy.restore();
  await eventually(
    async () => (await ledger(p, acct)).entries === 10,
    90_000,
    'all ten applied after the outage',
  );
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 100 }, entries: 10 });
  expect(await first.result()).toMatchObject({ outcome: 'applied' });
  expect(await readAll(p.kafka, p.dlqTopic)).toHaveLength(0);
  await allCommitted(p);
}, 180_000);
