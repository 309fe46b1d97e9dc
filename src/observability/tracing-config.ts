/**
 * OpenTelemetry tracing's configuration: OpenTelemetry's own environment variables (the names
 * every OpenTelemetry SDK reads), parsed and checked with the rest of idem's configuration
 * (src/config.ts spreads {@link tracingSchema} into its schema). Tracing is on only when an OTLP
 * endpoint is configured; without one idem installs nothing (docs/operations.md, Tracing).
 */
import { z } from 'zod';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

export interface TracingSettings {
  /** Where the exporter POSTs spans: the full URL (…/v1/traces). */
  endpoint: string;
  protocol: OtlpProtocol;
  /** Sent with every export (an API key, say); never logged. */
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  sampler: SamplerName;
  /** The ratio of the *traceidratio samplers, 0 to 1. */
  samplerRatio: number;
}

const httpUrl = (example: string) =>
  z
    .url({ message: `expected an http(s) URL, for example ${example}` })
    .refine((u) => /^https?:\/\//i.test(u), { message: `expected an http(s) URL, for example ${example}` });

const protocol = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .superRefine((s, ctx) => {
    if (s === 'grpc')
      ctx.addIssue({
        code: 'custom',
        message:
          'grpc is not supported by idem: use http/protobuf or http/json (an OpenTelemetry Collector takes both on port 4318)',
      });
    else if (s !== 'http/protobuf' && s !== 'http/json')
      ctx.addIssue({ code: 'custom', message: 'expected http/protobuf or http/json' });
  })
  .transform((s) => s as OtlpProtocol);

/** `key=value,key2=value2` with percent-encoded values, as OTEL_EXPORTER_OTLP_HEADERS and
 * OTEL_RESOURCE_ATTRIBUTES are written. */
const keyValueList = (what: string) =>
  z.string().transform((text, ctx): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const item of text.split(',')) {
      if (item.trim() === '') continue;
      const at = item.indexOf('=');
      const key = at > 0 ? item.slice(0, at).trim() : '';
      if (!key) {
        ctx.addIssue({ code: 'custom', message: `expected ${what} as key=value pairs separated by commas` });
        return z.NEVER;
      }
      try {
        out[key] = decodeURIComponent(item.slice(at + 1).trim());
      } catch {
        ctx.addIssue({ code: 'custom', message: `the value of ${key} is not valid percent-encoding` });
        return z.NEVER;
      }
    }
    return out;
  });

const flag = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['true', 'false'], { message: 'expected true or false' }))
  .transform((s) => s === 'true');

export const tracingSchema = {
  /** Base URL of an OTLP/HTTP receiver; traces go to `<endpoint>/v1/traces`. Unset (and no
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): tracing is off and nothing is installed. */
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl('http://127.0.0.1:4318').optional(),
  /** The full URL traces are POSTed to; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl('http://127.0.0.1:4318/v1/traces').optional(),
  /** @default http/protobuf */
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol.optional(),
  /** Wins over OTEL_EXPORTER_OTLP_PROTOCOL. */
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol.optional(),
  /** Headers of every export (`api-key=…`); secret. */
  OTEL_EXPORTER_OTLP_HEADERS: keyValueList('headers').optional(),
  /** Wins, header by header, over OTEL_EXPORTER_OTLP_HEADERS; secret. */
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueList('headers').optional(),
  /** The spans' service.name. @default idem */
  OTEL_SERVICE_NAME: z.string().trim().min(1).optional(),
  /** More resource attributes (`deployment.environment=prod,service.namespace=payments`). */
  OTEL_RESOURCE_ATTRIBUTES: keyValueList('resource attributes').optional(),
  /** @default parentbased_always_on */
  OTEL_TRACES_SAMPLER: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(
      z.enum(SAMPLERS as [SamplerName, ...SamplerName[]], {
        message: `expected one of ${SAMPLERS.join(', ')}`,
      }),
    )
    .optional(),
  /** The ratio of traceidratio and parentbased_traceidratio. @default 1 */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ message: 'expected a ratio from 0 to 1' })
    .min(0, { message: 'expected a ratio from 0 to 1' })
    .max(1, { message: 'expected a ratio from 0 to 1' })
    .optional(),
  /** `otlp` (the default) or `none`, which turns tracing off whatever the endpoint. */
  OTEL_TRACES_EXPORTER: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(z.enum(['otlp', 'none'], { message: 'expected otlp or none (idem exports traces over OTLP only)' }))
    .optional(),
  /** `true` turns tracing off whatever the endpoint. @default false */
  OTEL_SDK_DISABLED: flag.optional(),
};

/** Variables that may hold credentials: never quoted in a message nor shown in a log line. */
export const TRACING_SECRET_VARIABLES = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'];

type TracingEnv = {
  [K in keyof typeof tracingSchema]?: z.infer<(typeof tracingSchema)[K]>;
};

/** The traces URL of a base endpoint, as the OTLP exporter specification builds it. */
export function tracesUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** The tracing settings, or undefined when tracing is off (no endpoint, or turned off). */
export function tracingSettings(c: TracingEnv): TracingSettings | undefined {
  const endpoint =
    c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (c.OTEL_EXPORTER_OTLP_ENDPOINT ? tracesUrl(c.OTEL_EXPORTER_OTLP_ENDPOINT) : undefined);
  if (!endpoint || c.OTEL_SDK_DISABLED === true || c.OTEL_TRACES_EXPORTER === 'none') return undefined;
  return {
    endpoint,
    protocol: c.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? c.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    headers: { ...c.OTEL_EXPORTER_OTLP_HEADERS, ...c.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    serviceName: c.OTEL_SERVICE_NAME ?? 'idem',
    resourceAttributes: c.OTEL_RESOURCE_ATTRIBUTES ?? {},
    sampler: c.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on',
    samplerRatio: c.OTEL_TRACES_SAMPLER_ARG ?? 1,
  };
}
