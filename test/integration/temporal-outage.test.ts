/**
 * Temporal unreachable from the ingester (through a proxy the test cuts): starts
 * fail and are retried with backoff, offsets do not move past an event that was
 * not handed off, and when Temporal is back every event is applied exactly once.
 */
import crypto from 'node:crypto';
import type { IdemProcess } from '../../src/app';
import {
  allCommitted,
  ceRecord,
  createPipeline,
  ledger,
  metricValue,
  uncommitted,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

let p: Pipeline;
let proxy: TcpProxy;

beforeAll(async () => {
  p = await createPipeline('temporal-outage');
  const [host, port] = p.config.temporal.address.split(':');
  proxy = await startTcpProxy(host as string, Number(port));
}, 60_000);

afterAll(async () => {
  await p?.close();
  await proxy?.close();
});

test('the ingester holds its offsets while Temporal is down and hands everything off when it is back', async () => {
  await p.start(['worker']);
  const ingester: IdemProcess = await p.start(['ingester'], undefined, {
    TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
  });
  const acct = `t-outage-${crypto.randomUUID()}`;
  await proxy.cut();
  await p.producer.send({
    topic: p.topic,
    messages: Array.from({ length: 12 }, (_, i) =>
      ceRecord(
        p.source,
        { id: `${acct}-${i}`, type: 'account.debited', data: { account: acct, amount: 5 } },
        acct,
      ),
    ),
  });
  await eventually(
    async () => (await metricValue(ingester, 'idem_workflow_start_errors_total', `topic="${p.topic}"`)) > 0,
    60_000,
    'start errors while Temporal is unreachable',
  );
  expect(await uncommitted(p)).toBe(12n);
  expect(await ledger(p, acct)).toEqual({ balances: {}, entries: 0 });

  await proxy.restore();
  await allCommitted(p);
  await eventually(async () => (await ledger(p, acct)).entries === 12, 90_000, 'all twelve applied');
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: -60 }, entries: 12 });
});
