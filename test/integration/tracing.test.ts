/**
 * OpenTelemetry tracing on the real stack, the spans taken by a real OTLP/HTTP receiver of the
 * test's own (the JSON protocol, decoded as a collector decodes it):
 * - an event with a `ce_traceparent` header (binary mode) continues that trace: the ingester's
 *   span is a child of the producer's span, then StartWorkflow → RunWorkflow → StartActivity →
 *   RunActivity of applyEvent (a local activity), each the child of the one before;
 * - a structured-mode event's `traceparent` attribute does the same, and its tracestate is kept;
 * - an event without a trace context starts a new trace (the ingester's span is its root);
 * - a dead-lettered event's trace goes on to deadLetter, and its redrive (from the dead-letter
 *   record, which keeps the trace context) continues the same trace;
 * - the built `idem consume` (the prebuilt traced workflow bundle) traces the same chain, and its
 *   spans are flushed when it stops;
 * - once idem stops, the process's OpenTelemetry globals are gone again.
 */
import crypto from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import type { IHeaders } from 'kafkajs';
import type { IdemProcess } from '../../src/app';
import { readDlq } from '../../src/dlq/reader';
import { redrive } from '../../src/dlq/redrive';
import { silentLogger } from '../../src/observability/logger';
import { startTracingFor } from '../../src/observability/tracing-start';
import { temporalClient } from '../../src/temporal/connection';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { spawnConsume } from '../support/own-servers';
import { ceRecord, createPipeline, ledger, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');

function binaryRecord(source: string, id: string, type: string, data: unknown, headers: IHeaders = {}) {
  return {
    key: null,
    value: JSON.stringify(data),
    headers: {
      ce_specversion: '1.0',
      ce_id: id,
      ce_source: source,
      ce_type: type,
      'content-type': 'application/json',
      ...headers,
    } as IHeaders,
  };
}

/** The spans of one trace by name (the first of each name), and the trace's spans. */
function traceOf(spans: ReceivedSpan[], traceId: string) {
  const all = spans.filter((s) => s.traceId === traceId);
  const named = (name: string) => all.find((s) => s.name === name);
  return { all, named };
}

/** The ingester's span of the event `id`. */
function ingestSpanOf(spans: ReceivedSpan[], id: string): ReceivedSpan | undefined {
  return spans.find((s) => s.name.startsWith('ingest ') && s.attributes['cloudevents.event_id'] === id);
}

/** Waits until the trace of the event `id` holds every span in `names`, then checks that they
 * form a chain, each the parent of the next; returns the trace's spans by name. */
async function chainOf(receiver: OtlpReceiver, id: string, names: string[]) {
  const trace = await eventually(
    () => {
      const ingest = ingestSpanOf(receiver.spans(), id);
      if (!ingest) return undefined;
      const t = traceOf(receiver.spans(), ingest.traceId);
      return names.every((n) => t.named(n)) && { ingest, ...t };
    },
    90_000,
    `the spans ${names.join(', ')} of event ${id}`,
  );
  let parent = trace.ingest;
  for (const name of names) {
    const span = trace.named(name) as ReceivedSpan;
    expect({ name, parent: span.parentSpanId }).toEqual({ name, parent: parent.spanId });
    parent = span;
  }
  return trace;
}

const CHAIN = [
  'StartWorkflow:processEvent',
  'RunWorkflow:processEvent',
  'StartActivity:applyEvent',
  'RunActivity:applyEvent',
];

describe('tracing with an OTLP endpoint configured', () => {
  let p: Pipeline;
  let proc: IdemProcess;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    p = await createPipeline('tracing', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'idem-tracing-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    });
    proc = await p.start();
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await receiver?.close();
  });

  test('a binary-mode event continues its ce_traceparent through the workflow and applyEvent', async () => {
    const traceId = hex(16);
    const producerSpan = hex(8);
    const id = `bin-${hex(4)}`;
    await p.producer.send({
      topic: p.topic,
      messages: [
        binaryRecord(
          p.source,
          id,
          'account.credited',
          { account: `tr-${id}`, amount: 5 },
          { ce_traceparent: `00-${traceId}-${producerSpan}-01`, ce_tracestate: 'vendor=abc' },
        ),
      ],
    });
    const trace = await chainOf(receiver, id, CHAIN);
    expect(trace.ingest.traceId).toBe(traceId);
    expect(trace.ingest.parentSpanId).toBe(producerSpan);
    expect(trace.ingest.name).toBe(`ingest ${p.topic}`);
    expect(trace.ingest.kind).toBe(5); // SPAN_KIND_CONSUMER
    expect(trace.ingest.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': p.topic,
      'cloudevents.event_id': id,
      'cloudevents.event_source': p.source,
      'cloudevents.event_type': 'account.credited',
      'idem.start.outcome': 'started',
    });
    expect(trace.ingest.resource).toMatchObject({
      'service.name': 'idem-tracing-test',
      'deployment.environment': 'test',
    });
    expect(trace.all.every((s) => s.traceId === traceId)).toBe(true);
    expect((await ledger(p, `tr-${id}`)).entries).toBe(1);
    expect(receiver.refused()).toEqual([]);
  });

  test('a structured-mode event’s traceparent attribute is continued too', async () => {
    const traceId = hex(16);
    const producerSpan = hex(8);
    const id = `str-${hex(4)}`;
    const record = ceRecord(p.source, {
      id,
      type: 'account.credited',
      data: { account: `tr-${id}`, amount: 7 },
    });
    const value = JSON.parse(record.value) as Record<string, unknown>;
    await p.producer.send({
      topic: p.topic,
      messages: [
        { ...record, value: JSON.stringify({ ...value, traceparent: `00-${traceId}-${producerSpan}-01` }) },
      ],
    });
    const trace = await chainOf(receiver, id, CHAIN);
    expect(trace.ingest.traceId).toBe(traceId);
    expect(trace.ingest.parentSpanId).toBe(producerSpan);
  });

  test('an event without a trace context starts a new trace', async () => {
    const id = `new-${hex(4)}`;
    await p.producer.send({
      topic: p.topic,
      messages: [
        ceRecord(p.source, { id, type: 'account.credited', data: { account: `tr-${id}`, amount: 1 } }),
      ],
    });
    const trace = await chainOf(receiver, id, CHAIN);
    expect(trace.ingest.parentSpanId).toBe('');
    // a trace of its own: no other event's spans in it
    expect(new Set(trace.all.map((s) => s.attributes['cloudevents.event_id']).filter(Boolean))).toEqual(
      new Set([id]),
    );
  });

  test('a dead-lettered event’s trace goes on to deadLetter, and its redrive continues it', async () => {
    const traceId = hex(16);
    const producerSpan = hex(8);
    const id = `dlq-${hex(4)}`;
    await p.producer.send({
      topic: p.topic,
      messages: [
        binaryRecord(
          p.source,
          id,
          'no.such.type',
          { x: 1 },
          { ce_traceparent: `00-${traceId}-${producerSpan}-01` },
        ),
      ],
    });
    const trace = await chainOf(receiver, id, [
      'StartWorkflow:processEvent',
      'RunWorkflow:processEvent',
      'StartActivity:deadLetter',
      'RunActivity:deadLetter',
    ]);
    expect(trace.ingest.traceId).toBe(traceId);
    const apply = trace.named('StartActivity:applyEvent');
    expect(apply?.parentSpanId).toBe(trace.named('RunWorkflow:processEvent')?.spanId);

    // The dead-letter record keeps the trace context; `idem dlq redrive` (here its function, with
    // tracing as the command starts it) continues the trace from it.
    const entries = await eventually(
      async () => {
        const found = (await readDlq(p.kafka, p.dlqTopic)).filter((e) => e.info.cloudEventId === id);
        return found.length > 0 && found;
      },
      60_000,
      'the dead-letter record',
    );
    const tracing = await startTracingFor(p.config, silentLogger);
    if (!tracing) throw new Error('tracing is configured');
    try {
      const client = temporalClient(p.config, p.temporal.connection, tracing.clientInterceptors());
      const items = await redrive(client, p.config, entries, { wait: true, tracing });
      expect(items.map((i) => i.status)).toEqual(['failed_again']);
    } finally {
      await tracing.shutdown();
    }
    const redriveSpan = await eventually(
      () => receiver.spans().find((s) => s.name === `redrive ${p.dlqTopic}`),
      30_000,
      'the redrive span',
    );
    expect(redriveSpan).toMatchObject({ traceId, parentSpanId: producerSpan });
    const start = receiver.spans().find((s) => s.parentSpanId === redriveSpan.spanId);
    expect(start?.name).toBe('StartWorkflow:processEvent');
    const run = await eventually(
      () => receiver.spans().find((s) => s.parentSpanId === start?.spanId),
      60_000,
      'the redriven run’s span',
    );
    expect(run).toMatchObject({ traceId, name: 'RunWorkflow:processEvent' });
  });

  test('once idem stops, no OpenTelemetry global is left installed', async () => {
    await proc.stop();
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    expect(carrier).toEqual({});
  });
});

describe('tracing in the built idem consume', () => {
  let p: Pipeline;
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    p = await createPipeline('tracing-built');
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await receiver?.close();
  });

  test('traces the same chain with the prebuilt traced bundle, and flushes at stop', async () => {
    const consume = spawnConsume({
      ...p.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // nothing leaves before the stop: the spans seen were flushed by it
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    try {
      const traceId = hex(16);
      const id = `cli-${hex(4)}`;
      await p.producer.send({
        topic: p.topic,
        messages: [
          binaryRecord(
            p.source,
            id,
            'account.credited',
            { account: `tr-${id}`, amount: 3 },
            { ce_traceparent: `00-${traceId}-${hex(8)}-01` },
          ),
        ],
      });
      await eventually(async () => (await ledger(p, `tr-${id}`)).entries === 1, 90_000, 'the event applied');
      expect(ingestSpanOf(receiver.spans(), id)).toBeUndefined();
      expect(await consume.stop()).toBe(0);
      const trace = await chainOf(receiver, id, CHAIN);
      expect(trace.ingest.traceId).toBe(traceId);
      expect(trace.ingest.resource['service.name']).toBe('idem');
    } finally {
      if (consume.child.exitCode === null) await consume.stop();
    }
  });
});
