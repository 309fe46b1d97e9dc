/**
 * The one gate of tracing: without an OTLP endpoint in the configuration (config.tracing
 * undefined) nothing is loaded, installed or intercepted, so tracing that is off costs an event
 * nothing. With one, src/observability/tracing.ts is loaded and started.
 */
import type { Config } from '../config';
import type { Logger } from './logger';
import type { Tracing } from './tracing';

export type { Tracing };

export async function startTracingFor(
  config: Pick<Config, 'tracing'>,
  logger: Logger,
): Promise<Tracing | undefined> {
  if (!config.tracing) return undefined;
  const { startTracing } = await import('./tracing');
  const tracing = startTracing(config.tracing, logger);
  logger.info(
    { endpoint: config.tracing.endpoint, protocol: config.tracing.protocol, sampler: config.tracing.sampler },
    'OpenTelemetry tracing on',
  );
  return tracing;
}
