/** `idem_oldest_unprocessed_age_seconds` and the in-flight gauges: the watermark's oldest record, and
 * the per-partition gauges computed at scrape from the ingester's partitions. */
import { PartitionWatermark } from '../../src/ingest/watermark';
import { createMetrics } from '../../src/observability/metrics';

test('the oldest timestamp is the one of the record holding the commits, and none once all are done', () => {
  const w = new PartitionWatermark();
  expect(w.oldestTimestamp()).toBeUndefined();
  w.track('10', 0, 1_000);
  w.track('11', 0, 2_000);
  w.track('12', 0, 3_000);
  w.complete('11'); // done, but behind 10: 10 still holds the commits
  expect(w.oldestTimestamp()).toBe(1_000);
  w.complete('10'); // 10 and 11 released: 12 is the oldest now
  expect(w.oldestTimestamp()).toBe(3_000);
  w.complete('12');
  expect(w.oldestTimestamp()).toBeUndefined();
  w.track('13'); // no timestamp (kafkajs gave none): unknown, not an age of 55 years
  expect(w.oldestTimestamp()).toBeUndefined();
});

test('the gauge is computed at each scrape from the source, 0 for a partition with nothing in flight', async () => {
  const m = createMetrics();
  const now = Date.now();
  let oldest: number | undefined = now - 42_000;
  m.setIngestPartitions(() => [
    { topic: 't', partition: 0, timestampMs: oldest, inFlight: 0, inFlightBytes: 0 },
    { topic: 't', partition: 1, timestampMs: undefined, inFlight: 0, inFlightBytes: 0 },
  ]);
  const read = async () =>
    Object.fromEntries(
      (await m.oldestUnprocessedAge.get()).values.map((v) => [String(v.labels.partition), v.value]),
    );
  const first = await read();
  expect(first['0']).toBeGreaterThanOrEqual(42);
  expect(first['0']).toBeLessThan(60);
  expect(first['1']).toBe(0);
  oldest = undefined;
  expect(await read()).toEqual({ '0': 0, '1': 0 });
  m.setIngestPartitions(undefined); // the ingester stopped: no partitions reported
  expect(await read()).toEqual({});
});

test('the in-flight gauges are read from the partitions at each scrape, and cleared when the ingester stops', async () => {
  const m = createMetrics();
  const window = { inFlight: 3, inFlightBytes: 900 };
  m.setIngestPartitions(() => [{ topic: 't', partition: 2, timestampMs: undefined, ...window }]);
  const read = async () => ({
    records: (await m.inFlight.get()).values.map((v) => [v.labels, v.value]),
    bytes: (await m.inFlightBytes.get()).values.map((v) => [v.labels, v.value]),
  });
  expect(await read()).toEqual({
    records: [[{ topic: 't', partition: '2' }, 3]],
    bytes: [[{ topic: 't', partition: '2' }, 900]],
  });
  window.inFlight = 0; // the window drained: read as it is now, not as it was last set
  window.inFlightBytes = 0;
  expect(await read()).toEqual({
    records: [[{ topic: 't', partition: '2' }, 0]],
    bytes: [[{ topic: 't', partition: '2' }, 0]],
  });
  m.setIngestPartitions(undefined);
  expect(await read()).toEqual({ records: [], bytes: [] });
});
