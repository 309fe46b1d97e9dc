/**
 * OpenTelemetry tracing, on when an OTLP endpoint is configured (src/observability/tracing-config.ts).
 * Loaded only then (src/observability/tracing-start.ts): a process without tracing loads none of
 * the OpenTelemetry SDK and installs no interceptor, so an event costs nothing more.
 *
 * The trace of one event: the ingester's `ingest <topic>` span (a child of the record's W3C trace
 * context, CloudEvents' distributed-tracing extension, else a root) → `StartWorkflow:processEvent`
 * (Temporal's client interceptor, which puts the context in the workflow's headers) →
 * `RunWorkflow:processEvent` (Temporal's workflow interceptors, inside the traced workflow bundle;
 * the sandbox hands its spans to the worker through a sink) → `StartActivity:applyEvent` →
 * `RunActivity:applyEvent` (the activity interceptor; a local activity too), and
 * `StartActivity:deadLetter` → `RunActivity:deadLetter` when the event is dead-lettered.
 */
import {
  context,
  defaultTextMapGetter,
  diag,
  DiagLogLevel,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { ClientInterceptors } from '@temporalio/client';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import { traceCarrierOf } from '../events/trace-context';
import type { RawMessage } from '../events/types';
import { throttledWarn, type Logger } from './logger';
import type { SamplerName, TracingSettings } from './tracing-config';

/** Temporal's workflow interceptors for OpenTelemetry, as a workflow interceptor module: built
 * into the traced workflow bundles (scripts/bundle-workflows.js), or into the bundle a worker run
 * from source makes at start. Made for the workflow sandbox (deterministic: span IDs from the
 * workflow's seeded random, spans leave through a sink that replay does not call). */
export const WORKFLOW_TRACING_MODULE =
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export interface Tracing {
  readonly tracer: Tracer;
  /** The interceptors of a client that starts event workflows: its `StartWorkflow` span carries
   * the trace context to the workflow in the start's headers. */
  clientInterceptors(): ClientInterceptors;
  /** What a worker adds: the activity interceptors, the sink the workflows' spans leave through,
   * and, when it bundles its workflows at start (run from source), the workflow interceptors. */
  workerOptions(bundlesAtStart: boolean): {
    interceptors: WorkerInterceptors;
    sinks: InjectedSinks<OpenTelemetrySinks>;
  };
  /** Runs `fn` in a span about one event's record: a child of the trace context the record
   * carries, else the root of a new trace. */
  inRecordSpan<T>(
    name: string,
    message: RawMessage,
    attributes: Attributes,
    fn: (span: Span) => Promise<T>,
  ): Promise<T>;
  /** Exports the spans still buffered, then stops; safe to call twice. */
  shutdown(): Promise<void>;
}

function sampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The process-wide parts Temporal's interceptors use (the active context across awaits, and the
 * W3C propagator that writes and reads their header), installed while some Tracing runs. */
let users = 0;
let ownsGlobals = false;

function installGlobals(logger: Logger): void {
  if (users++ > 0) return;
  const contextManager = new AsyncLocalStorageContextManager().enable();
  // false when the process (a handler module) installed its own: then theirs serve, and stay.
  ownsGlobals =
    context.setGlobalContextManager(contextManager) &&
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!ownsGlobals) contextManager.disable();
  // Export failures (the collector down) reach the log, once per 10 s, instead of nowhere.
  const warn = throttledWarn(logger, 'OpenTelemetry: exporting spans failed; retrying with later spans');
  diag.setLogger(
    {
      error: (message, ...args) => warn(new Error([message, ...args.map(String)].join(' '))),
      warn: (message, ...args) => warn(new Error([message, ...args.map(String)].join(' '))),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

function removeGlobals(): void {
  if (--users > 0) return;
  if (ownsGlobals) {
    context.disable();
    propagation.disable();
  }
  diag.disable();
  ownsGlobals = false;
}

export function startTracing(settings: TracingSettings, logger: Logger): Tracing {
  const resource = new Resource({ 'service.name': settings.serviceName, ...settings.resourceAttributes });
  const exporterOptions = { url: settings.endpoint, headers: settings.headers };
  const exporter =
    settings.protocol === 'http/json'
      ? new OtlpJsonExporter(exporterOptions)
      : new OtlpProtobufExporter(exporterOptions);
  // Spans leave in batches, off the event's path; a full queue drops spans, never waits.
  const processor = new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource,
    sampler: sampler(settings.sampler, settings.samplerRatio),
    spanProcessors: [processor],
  });
  installGlobals(logger);
  const tracer = provider.getTracer('idem');
  const w3c = new W3CTraceContextPropagator();
  let stopped: Promise<void> | undefined;

  return {
    tracer,
    clientInterceptors: () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] }),
    workerOptions: (bundlesAtStart) => ({
      interceptors: {
        activity: [
          (ctx) => ({
            inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
            outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
        ...(bundlesAtStart ? { workflowModules: [WORKFLOW_TRACING_MODULE] } : {}),
      },
      sinks: { exporter: makeWorkflowExporter(processor, resource) },
    }),
    async inRecordSpan(name, message, attributes, fn) {
      const carrier = traceCarrierOf(message);
      const parent = carrier ? w3c.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : ROOT_CONTEXT;
      const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
      try {
        return await context.with(trace.setSpan(parent, span), () => fn(span));
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
    shutdown() {
      stopped ??= provider
        .shutdown()
        .catch((err: unknown) => logger.warn({ err }, 'OpenTelemetry: flushing spans at shutdown failed'))
        .finally(removeGlobals);
      return stopped;
    },
  };
}
