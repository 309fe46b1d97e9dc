/**
 * The W3C trace context an event carries, by CloudEvents' distributed-tracing extension: in
 * binary mode the `ce_traceparent` and `ce_tracestate` headers, in structured mode the
 * `traceparent` and `tracestate` attributes of the JSON envelope. A record with neither may carry
 * the plain `traceparent` and `tracestate` Kafka headers that OpenTelemetry's Kafka
 * instrumentations write; those are read last.
 *
 * Read only when tracing is on (src/observability/tracing.ts), from the RawMessage that travels
 * through Temporal and into the dead-letter topic unchanged, so a redrive finds it again. Never
 * throws: a context that cannot be read is no context (the span becomes a root); its format is
 * checked by the W3C propagator that reads it.
 */
import { findHeader } from './cloudevents';
import { tryJson } from './json';
import type { EncodedBytes, RawMessage } from './types';

export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

function text(headers: Record<string, EncodedBytes>, name: string): string | undefined {
  const value = findHeader(headers, name);
  return value !== undefined && 'utf8' in value ? value.utf8 : undefined;
}

function carrier(traceparent: unknown, tracestate: unknown): TraceCarrier | undefined {
  if (typeof traceparent !== 'string' || traceparent === '') return undefined;
  return typeof tracestate === 'string' && tracestate !== '' ? { traceparent, tracestate } : { traceparent };
}

export function traceCarrierOf(raw: RawMessage): TraceCarrier | undefined {
  try {
    const binary = carrier(text(raw.headers, 'ce_traceparent'), text(raw.headers, 'ce_tracestate'));
    if (binary) return binary;
    // Structured mode: parsed again only when the value names the attribute at all.
    if (raw.value.includes('"traceparent"')) {
      const parsed = tryJson(raw.value)?.value;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const obj = parsed as Record<string, unknown>;
        const structured = carrier(obj.traceparent, obj.tracestate);
        if (structured) return structured;
      }
    }
    return carrier(text(raw.headers, 'traceparent'), text(raw.headers, 'tracestate'));
  } catch {
    return undefined;
  }
}
