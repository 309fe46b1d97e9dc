/**
 * Tracing's configuration (OpenTelemetry's own variables), its gate (no endpoint: nothing loaded,
 * no interceptor installed) and the trace context an event carries.
 */
import { ConfigError, parseConfig } from '../../src/config';
import { workflowCode } from '../../src/app';
import { traceCarrierOf } from '../../src/events/trace-context';
import type { RawMessage } from '../../src/events/types';
import { silentLogger } from '../../src/observability/logger';
import { startTracingFor } from '../../src/observability/tracing-start';
import { webpackConfigHook } from '../../src/temporal/workflow-bundle';

// The OpenTelemetry side of idem: loading it at all is what tracing that is off must not do.
jest.mock('../../src/observability/tracing', () => {
  throw new Error('src/observability/tracing.ts was loaded');
});

function configError(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('off without an OTLP endpoint, or when turned off', () => {
    expect(parseConfig({}).tracing).toBeUndefined();
    expect(parseConfig({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }).tracing).toBeUndefined();
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(parseConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
    expect(parseConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
  });

  test('an endpoint turns it on, with OpenTelemetry’s defaults', () => {
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      endpoint: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      serviceName: 'idem',
      resourceAttributes: {},
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
    });
  });

  test('the traces-only variables win over the general ones', () => {
    const c = parseConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/otlp/v1/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'HTTP/JSON',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=general,tenant=a%20b',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=for-traces',
      OTEL_SERVICE_NAME: 'payments-consumer',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, service.namespace=payments',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(c.tracing).toEqual({
      endpoint: 'https://traces.example.com/otlp/v1/traces',
      protocol: 'http/json',
      headers: { 'api-key': 'for-traces', tenant: 'a b' },
      serviceName: 'payments-consumer',
      resourceAttributes: { 'deployment.environment': 'prod', 'service.namespace': 'payments' },
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
    });
  });

  test('bad values stop start-up with what to write instead', () => {
    const message = configError({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '2',
      OTEL_SDK_DISABLED: 'maybe',
    });
    expect(message).toContain(
      'OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL, for example http://127.0.0.1:4318 (got "collector:4318")',
    );
    expect(message).toContain(
      'OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported by idem: use http/protobuf or http/json',
    );
    expect(message).toMatch(/OTEL_TRACES_SAMPLER: expected one of always_on, .*parentbased_traceidratio/);
    expect(message).toContain('OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1 (got "2")');
    expect(message).toContain('OTEL_SDK_DISABLED: expected true or false (got "maybe")');
    expect(configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' })).toContain(
      'OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL',
    );
  });

  test('export headers may hold credentials: never quoted', () => {
    const message = configError({ OTEL_EXPORTER_OTLP_HEADERS: 'Authorization' });
    expect(message).toContain(
      'OTEL_EXPORTER_OTLP_HEADERS: expected headers as key=value pairs separated by commas',
    );
    expect(message).not.toContain('(got');
  });
});

describe('the gate', () => {
  test('without an endpoint nothing is started, loaded or installed', async () => {
    await expect(startTracingFor(parseConfig({}), silentLogger)).resolves.toBeUndefined();
    // a worker without tracing runs its workflows with no interceptor module
    const fromSource = { workflowsPath: expect.any(String), bundlerOptions: { webpackConfigHook } };
    expect(workflowCode(false, false)).toEqual(fromSource);
    expect(workflowCode(true, false)).toEqual(fromSource);
  });

  test('with one, the OpenTelemetry side is loaded (the mock above says so)', async () => {
    const config = parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    await expect(startTracingFor(config, silentLogger)).rejects.toThrow('tracing.ts was loaded');
  });
});

describe('the trace context an event carries', () => {
  const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const raw = (value: string, headers: RawMessage['headers'] = {}): RawMessage => ({
    topic: 'events',
    partition: 0,
    offset: '1',
    timestamp: '0',
    key: null,
    value,
    headers,
  });

  test('binary mode: ce_traceparent and ce_tracestate (any case)', () => {
    expect(
      traceCarrierOf(raw('{}', { ce_traceparent: { utf8: TP }, ce_tracestate: { utf8: 'v=1' } })),
    ).toEqual({
      traceparent: TP,
      tracestate: 'v=1',
    });
    expect(traceCarrierOf(raw('{}', { CE_TRACEPARENT: { utf8: TP } }))).toEqual({ traceparent: TP });
  });

  test('structured mode: the traceparent and tracestate attributes', () => {
    const value = JSON.stringify({ specversion: '1.0', id: '1', traceparent: TP, tracestate: 'v=2' });
    expect(traceCarrierOf(raw(value))).toEqual({ traceparent: TP, tracestate: 'v=2' });
  });

  test('a plain traceparent header last; none at all, or unreadable: none', () => {
    expect(traceCarrierOf(raw('{"id":"1"}', { traceparent: { utf8: TP } }))).toEqual({ traceparent: TP });
    expect(traceCarrierOf(raw('{"id":"1"}'))).toBeUndefined();
    expect(traceCarrierOf(raw('{"traceparent": 5}'))).toBeUndefined();
    expect(traceCarrierOf(raw('not json "traceparent"'))).toBeUndefined();
    expect(traceCarrierOf(raw('{}', { ce_traceparent: { base64: 'AAE=' } }))).toBeUndefined();
  });
});
