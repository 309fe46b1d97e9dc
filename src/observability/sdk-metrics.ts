/**
 * The Temporal SDK's own metrics (`temporal_*`: workflow and activity task latencies, slots, poll
 * results, request failures of the worker and its NativeConnection) on idem's scrape.
 *
 * The SDK's core exports metrics through an HTTP endpoint of its own (Runtime telemetry
 * `metrics.prometheus.bindAddress`), not through prom-client, so it binds a second port. idem binds
 * it on loopback only (IDEM_TEMPORAL_METRICS_PORT, by default a free port chosen at start) and its
 * own /metrics appends what that endpoint serves: one scrape target per process gets both, and the
 * extra port is never exposed. The names cannot clash: idem's start with `idem_`, the SDK's with
 * `temporal_`.
 */
import { freeLoopbackPort } from '../net';

/** The loopback address the SDK's exporter binds, or undefined when the SDK's metrics are off
 * (IDEM_TEMPORAL_METRICS_PORT=0, or no /metrics to append them to). */
export async function sdkMetricsAddress(o: {
  metricsPort: number;
  temporalMetricsPort: number | undefined;
}): Promise<string | undefined> {
  if (o.metricsPort === 0 || o.temporalMetricsPort === 0) return undefined;
  const port = o.temporalMetricsPort ?? (await freeLoopbackPort());
  return `127.0.0.1:${port}`;
}

/**
 * Reads the SDK's exposition from its exporter, for appending to idem's /metrics. Never fails the
 * scrape: an exporter that does not answer (yet) yields a comment saying so, and idem's own
 * metrics still go out.
 */
export function sdkMetricsReader(address: string, timeoutMs = 2_000): () => Promise<string> {
  const url = `http://${address}/metrics`;
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return `# Temporal SDK metrics at ${url} answered HTTP ${res.status}\n`;
      const text = await res.text();
      return text.endsWith('\n') || text === '' ? text : `${text}\n`;
    } catch (err) {
      return `# Temporal SDK metrics at ${url} did not answer: ${(err as Error).message.replace(/\s+/g, ' ')}\n`;
    }
  };
}
