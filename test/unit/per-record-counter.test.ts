/**
 * The counters the ingester increments for every record (idem_events_received_total,
 * idem_duplicates_total) add to a number and hand the sums to prom-client when read: what a
 * scrape and `get()` show must be what plain prom-client counters would show.
 */
import { createMetrics } from '../../src/observability/metrics';

test('increments show at a scrape and in get(), per label value, as prom-client counters would', async () => {
  const m = createMetrics({ defaults: false });
  for (let i = 0; i < 1000; i++) m.received.inc({ topic: 'orders' });
  m.received.inc({ topic: 'payments' }, 5);
  m.duplicates.inc({ layer: 'ingest' });
  m.duplicates.inc({ layer: 'store' }, 2);
  const text = await m.registry.metrics();
  expect(text).toContain('idem_events_received_total{topic="orders"} 1000');
  expect(text).toContain('idem_events_received_total{topic="payments"} 5');
  // Read twice: the sums are handed over once, not added again.
  m.duplicates.inc({ layer: 'ingest' });
  expect((await m.duplicates.get()).values).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ labels: { layer: 'ingest' }, value: 2 }),
      expect.objectContaining({ labels: { layer: 'store' }, value: 2 }),
    ]),
  );
  expect(await m.registry.metrics()).toContain('idem_duplicates_total{layer="ingest"} 2');
});

test('what prom-client refuses it still refuses, and reset clears increments not yet read', async () => {
  const m = createMetrics({ defaults: false });
  expect(() => m.received.inc({ topic: 'orders' }, -1)).toThrow();
  expect(() => m.received.inc({ nope: 'x' } as never)).toThrow();
  m.received.inc({ topic: 'orders' }, 3);
  m.received.reset();
  expect((await m.received.get()).values).toEqual([]);
});
