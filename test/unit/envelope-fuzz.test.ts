/**
 * Property-based fuzzing of what the ingester makes of a Kafka record (`prepareRecord`: the
 * envelope parse, the workflow input, the dedup key), issue 9 "hostile input". Whatever the
 * bytes, keys and headers, the outcome is either an event that meets every invariant the rest of
 * idem relies on, or a typed rejection with a reason of the documented set; never an exception
 * (TypeError, RangeError, a stack overflow) and never the parser's last-resort "unexpected error".
 *
 * Fixed seed, so CI runs the same cases every time; fast-check prints the seed and the
 * counterexample's path on failure. A longer or different run:
 *   IDEM_FUZZ_SEED=123 IDEM_FUZZ_RUNS=20 npx jest --selectProjects unit -- envelope-fuzz
 * (IDEM_FUZZ_RUNS multiplies the number of runs of every property.)
 */
import fc from 'fast-check';

import { parseConfig } from '../../src/config';
import { ENVELOPE_LIMITS } from '../../src/events/attributes';
import { type KafkaHeaderValue, type KafkaRecord, parseRawMessage } from '../../src/events/envelope';
import { READABLE_ID_MAX_LENGTH, TEMPORAL_MAX_ID_LENGTH, workflowIdFor } from '../../src/events/identity';
import type { DlqReason, IdemEvent, RawMessage } from '../../src/events/types';
import { inputBytesBound, prepareRecord } from '../../src/ingest/prepare';
import { MAX_WORKFLOW_INPUT_BYTES } from '../../src/temporal/start-event';

const SEED = Number(process.env['IDEM_FUZZ_SEED'] ?? 20_261_209);
const SCALE = Number(process.env['IDEM_FUZZ_RUNS'] ?? 1);
const runs = (n: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * SCALE)) });

const config = parseConfig({});
const MAX_EVENT_BYTES = 1_000_000;
const prepare = (rec: KafkaRecord) =>
  prepareRecord(rec, { maxEventBytes: MAX_EVENT_BYTES, retry: config.retry, shape: config.workflow });

/** The reasons a record can be rejected for before any workflow starts (docs/architecture.md). */
const INGEST_REASONS: DlqReason[] = ['invalid_envelope', 'invalid_utf8', 'too_large'];

// --- invariants ---

/* eslint-disable no-control-regex */
/** C0 and C1 control characters. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of every plane. */
const NONCHARACTER =
  /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;
/* eslint-enable no-control-regex */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const WORKFLOW_ID = /^(event:[A-Za-z0-9._~/@+=-]+:[A-Za-z0-9._~/@+=:-]+|event-sha256:[0-9a-f]{64})$/;

const codePoints = (s: string) => [...s].length;

/** A CloudEvents `String` (spec, type system): no control characters, no noncharacters, no
 * unpaired surrogates. */
function expectCeString(value: unknown, what: string): void {
  expect(typeof value).toBe('string');
  const s = value as string;
  if (CONTROL.test(s) || NONCHARACTER.test(s) || LONE_SURROGATE.test(s))
    throw new Error(`${what} ${JSON.stringify(s)} is not a CloudEvents String`);
}

/** What the rest of idem relies on for an accepted event. */
function expectValidEvent(event: IdemEvent, raw: RawMessage, workflowId: string | undefined): void {
  for (const [name, limit] of [
    ['id', ENVELOPE_LIMITS.maxIdLength],
    ['source', ENVELOPE_LIMITS.maxSourceLength],
    ['type', ENVELOPE_LIMITS.maxTypeLength],
  ] as const) {
    const value = event[name];
    expectCeString(value, name);
    expect(value.length).toBeGreaterThan(0);
    expect(codePoints(value)).toBeLessThanOrEqual(limit);
  }
  for (const name of ['subject', 'time', 'datacontenttype'] as const)
    if (event[name] !== undefined) expectCeString(event[name], name);
  expect(event.specversion).toBe('1.0');
  expect(['structured', 'binary', 'plain']).toContain(event.mode);
  // The ordering key: PostgreSQL text (no U+0000) and small enough for the parked keys' index.
  if (event.key !== undefined) {
    expect(event.key.length).toBeGreaterThan(0);
    expect(event.key).not.toContain('\u0000');
    expect(Buffer.byteLength(event.key)).toBeLessThanOrEqual(ENVELOPE_LIMITS.maxKeyBytes);
  }
  // The dedup key: deterministic, one of the two pinned forms, within Temporal's limit.
  expect(workflowId).toBe(workflowIdFor(event.source, event.id));
  expect(workflowId).toMatch(WORKFLOW_ID);
  expect(workflowId?.length).toBeLessThanOrEqual(Math.min(READABLE_ID_MAX_LENGTH, TEMPORAL_MAX_ID_LENGTH));
  // The data survives JSON (Temporal payloads, PostgreSQL jsonb, logs) without a stack overflow.
  expect(() => JSON.stringify(event.data)).not.toThrow();
  // The activity, reading the record back from its JSON trip through Temporal, agrees.
  const again = parseRawMessage(JSON.parse(JSON.stringify(raw)) as RawMessage, {
    maxEventBytes: MAX_EVENT_BYTES,
  });
  expect(again).toEqual({ ok: true, event, raw });
}

/** Runs the ingester's preparation of `rec` and checks the outcome; returns it for more checks. */
function check(rec: KafkaRecord) {
  let out: ReturnType<typeof prepare>;
  try {
    out = prepare(rec);
  } catch (err) {
    throw new Error(`prepareRecord threw ${String(err)}`, { cause: err });
  }
  const { parsed, workflowId, input } = out;
  if (parsed.ok) {
    expectValidEvent(parsed.event, parsed.raw, workflowId);
    // No ambiguity left to chance: a content-type or ce_* header sent twice says the same both times.
    for (const [name, value] of Object.entries(rec.headers ?? {}))
      if (Array.isArray(value) && /^(content-type|ce_.*)$/i.test(name)) {
        const texts = new Set(value.map((v) => Buffer.from(v).toString('hex')));
        if (texts.size > 1) throw new Error(`accepted with header ${name} repeated with different values`);
      }
    expect(input).toBeDefined();
    const inputBytes = Buffer.byteLength(JSON.stringify(input));
    expect(inputBytes).toBeLessThanOrEqual(MAX_WORKFLOW_INPUT_BYTES);
    // prepareRecord measures only inputs whose bound is over the limit: the bound must hold.
    expect(inputBytes).toBeLessThanOrEqual(inputBytesBound(rec));
  } else {
    expect(INGEST_REASONS).toContain(parsed.reason);
    expect(typeof parsed.error).toBe('string');
    expect(parsed.error.length).toBeGreaterThan(0);
    // The last resort of parseRecord: an exception it did not expect. Never acceptable.
    expect(parsed.error).not.toMatch(/unexpected error/);
    // idem-error is printed by `idem dlq list`: no control characters from the record in it.
    expect(parsed.error).not.toMatch(CONTROL);
    expect(workflowId).toBeUndefined();
  }
  return out;
}

// --- generators ---

/** Any UTF-16 code unit, lone surrogates included. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Strings that have broken parsers before: controls, separators, noncharacters, halves of pairs. */
const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\u001b[2J\u001b[31mred',
    'line\nbreak',
    'tab\t',
    '\u007f',
    '\u0085',
    '\u009f',
    '\u2028',
    '\uFEFF',
    '\uFFFE',
    '\uFDD0',
    '\uD83F\uDFFF',
    '\uD800',
    'a\uDC00',
    '😀',
    'a:b/c',
    '../../etc/passwd',
    '%00',
    'event:x:y',
    'event-sha256:00',
    '__proto__',
    'x'.repeat(ENVELOPE_LIMITS.maxIdLength),
    'x'.repeat(ENVELOPE_LIMITS.maxIdLength + 1),
    '😀'.repeat(ENVELOPE_LIMITS.maxIdLength),
    'é'.repeat(ENVELOPE_LIMITS.maxTypeLength + 1),
    '1.0',
    'application/json',
    'application/cloudevents+json',
    '2024-01-01T00:00:00Z',
  ),
  fc.string({ unit: anyUnit, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);
/** Strings a careful producer would send. */
const goodString = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,30}$/);
const someString = fc.oneof({ arbitrary: goodString, weight: 3 }, { arbitrary: nastyString, weight: 2 });
/** A JSON value for an attribute: mostly strings, sometimes the wrong type. */
const attrValue = fc.oneof(
  { arbitrary: someString, weight: 6 },
  { arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 },
);
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));

/** A JSON object as text, members in order (duplicates and `__proto__` kept as written). */
function objectText(members: [string, unknown][]): string {
  return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
}

/** Mostly `good`, sometimes any attribute value: every attribute is sometimes wrong, but an
 * event with all of them right still comes up often enough to fuzz the accepted path. */
const mostly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: attrValue, weight: 1 });

/** The members of a structured-mode event (or a plain one, without specversion). */
const envelopeMembers = (withSpecversion: boolean) =>
  fc
    .tuple(
      fc.record(
        {
          specversion: mostly(fc.constant('1.0')),
          id: mostly(goodString),
          source: mostly(goodString),
          type: mostly(goodString),
          subject: mostly(goodString),
          time: mostly(fc.constantFrom('2024-05-01T12:00:00Z', '2024-02-29T23:59:60.5+01:00')),
          datacontenttype: mostly(fc.constantFrom('application/json', 'text/plain; charset=utf-8')),
          dataschema: mostly(fc.constant('https://example.com/s.json')),
          data: fc.jsonValue({ maxDepth: 4 }),
          data_base64: mostly(fc.constantFrom('aGVsbG8=', '')),
        },
        {
          requiredKeys: withSpecversion ? ['specversion', 'id', 'source', 'type'] : ['id', 'source', 'type'],
        },
      ),
      fc.array(
        fc.tuple(
          fc.oneof(
            { arbitrary: fc.constantFrom('traceparent', 'partitionkey', 'sampled'), weight: 4 },
            {
              arbitrary: fc.oneof(
                fc.constantFrom('ID', 'x-y', '', '__proto__', 'constructor', 'id', 'data'),
                fc.string({ maxLength: 8 }),
              ),
              weight: 1,
            },
          ),
          mostly(fc.oneof(goodString, fc.boolean(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }))),
        ),
        { maxLength: 3 },
      ),
    )
    .map(([attrs, extra]) => {
      const members = Object.entries(attrs).filter(([k]) => withSpecversion || k !== 'specversion');
      return [...members, ...extra] as [string, unknown][];
    });

const contentTypes = fc.constantFrom(
  undefined,
  'application/cloudevents+json',
  'Application/CloudEvents+JSON; charset=utf-8',
  'application/cloudevents-batch+json',
  'application/cloudevents+avro',
  'application/json',
  'text/plain',
  'application/vnd.x+json',
  '',
  ';',
  'application/json\u0000',
);

/** Header names: the ones idem reads, in several spellings, and anything else. */
const headerName = fc.oneof(
  fc.constantFrom(
    'ce_specversion',
    'ce_id',
    'ce_source',
    'ce_type',
    'ce_subject',
    'ce_time',
    'ce_dataschema',
    'ce_datacontenttype',
    'ce_traceparent',
    'CE_ID',
    'Ce_Type',
    'ce_',
    'ce_x-y',
    'content-type',
    'Content-Type',
    'CONTENT-TYPE',
    'idem-reason',
    'idem-event-id',
    'idem-workflow-id',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 10 }),
);
const headerBytes = fc.oneof(
  someString.map((s) => Buffer.from(s, 'utf8')),
  bytes(12),
  someString, // kafkajs types allow strings too
);
const headerValue: fc.Arbitrary<KafkaHeaderValue> = fc.oneof(
  { arbitrary: headerBytes, weight: 6 },
  { arbitrary: fc.array(headerBytes, { maxLength: 3 }), weight: 1 }, // a name sent more than once
  { arbitrary: fc.constant(undefined), weight: 1 },
);
const headers = fc
  .array(fc.tuple(headerName, headerValue), { maxLength: 5 })
  .map((entries) => Object.fromEntries(entries) as Record<string, KafkaHeaderValue>);

const kafkaKey = fc.option(
  fc.oneof(
    { arbitrary: goodString.map((s) => Buffer.from(s)), weight: 4 },
    { arbitrary: nastyString.map((s) => Buffer.from(s)), weight: 2 },
    { arbitrary: bytes(16), weight: 2 },
    { arbitrary: fc.constantFrom(Buffer.alloc(0), Buffer.alloc(8), Buffer.from([0, 0, 0, 1])), weight: 1 },
    { arbitrary: fc.integer({ min: 900, max: 5000 }).map((n) => Buffer.alloc(n, 'k')), weight: 1 },
  ),
);

function record(
  value: Buffer | null,
  key: Buffer | null,
  hdrs: Record<string, KafkaHeaderValue>,
): KafkaRecord {
  return {
    topic: 'events',
    partition: 0,
    offset: '7',
    timestamp: '1700000000000',
    key,
    value,
    headers: hdrs,
  };
}

/** A value as the producer might frame it: a BOM, surrounding whitespace. */
const framed = (text: fc.Arbitrary<string>) =>
  fc
    .tuple(text, fc.constantFrom('', '\uFEFF', ' \n'), fc.constantFrom('', '\n', '\u0000'))
    .map(([t, pre, post]) => Buffer.from(pre + t + post, 'utf8'));

// --- properties ---

describe('prepareRecord, fuzzed: an event meeting every invariant, or a typed rejection', () => {
  test('arbitrary bytes, keys and headers', () => {
    fc.assert(
      fc.property(
        fc.oneof(bytes(200), framed(fc.json({ maxDepth: 3 })), fc.constant(null)),
        kafkaKey,
        headers,
        (value, key, hdrs) => {
          check(record(value, key, hdrs));
        },
      ),
      runs(1500),
    );
  });

  test('arbitrary JSON values, with and without a CloudEvents content type', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), contentTypes, kafkaKey, (value, contentType, key) => {
        const hdrs = contentType === undefined ? {} : { 'content-type': Buffer.from(contentType) };
        check(record(Buffer.from(JSON.stringify(value)), key, hdrs));
      }),
      runs(1000),
    );
  });

  test('structured-mode and plain events with random attribute values', () => {
    const accepted = new Set<string>();
    fc.assert(
      fc.property(
        envelopeMembers(true),
        envelopeMembers(false),
        fc.boolean(),
        fc.boolean(),
        kafkaKey,
        contentTypes,
        (ceMembers, plainMembers, structured, byHeader, key, contentType) => {
          const text = objectText(structured ? ceMembers : plainMembers);
          const ct = byHeader ? 'application/cloudevents+json' : contentType;
          const out = check(
            record(Buffer.from(text), key, ct === undefined ? {} : { 'content-type': Buffer.from(ct) }),
          );
          if (out.parsed.ok) accepted.add(out.parsed.event.mode);
        },
      ),
      runs(2000),
    );
    // The fuzzing reaches the happy path of both forms, not only their rejections.
    expect([...accepted].sort()).toEqual(['plain', 'structured']);
  });

  test('binary-mode events with random ce_* headers, duplicated and conflicting ones', () => {
    let accepted = 0;
    const ceHeaders = fc.record(
      {
        ce_specversion: fc.oneof({ arbitrary: fc.constant('1.0'), weight: 5 }, someString),
        ce_id: someString,
        ce_source: someString,
        ce_type: someString,
        ce_subject: someString,
        ce_time: fc.oneof(fc.constant('2024-05-01T12:00:00Z'), someString),
        ce_dataschema: someString,
      },
      { requiredKeys: ['ce_specversion', 'ce_id', 'ce_source', 'ce_type'] },
    );
    fc.assert(
      fc.property(
        ceHeaders,
        headers,
        contentTypes,
        fc.oneof(
          framed(fc.json({ maxDepth: 3 })),
          bytes(64),
          someString.map((s) => Buffer.from(s)),
        ),
        kafkaKey,
        // One of the headers idem reads sent a second time, with the same value or another.
        fc.option(
          fc.tuple(
            fc.constantFrom('ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'ce_subject', 'content-type'),
            fc.option(goodString),
          ),
        ),
        (ce, extra, contentType, value, key, repeat) => {
          const hdrs: Record<string, KafkaHeaderValue> = {
            ...Object.fromEntries(Object.entries(ce).map(([k, v]) => [k, Buffer.from(v)])),
            ...(contentType === undefined ? {} : { 'content-type': Buffer.from(contentType) }),
            ...extra,
          };
          if (repeat) {
            const [name, other] = repeat;
            const first = [hdrs[name]].flat()[0] ?? Buffer.from('1.0');
            hdrs[name] = [first, other ?? first];
          }
          if (check(record(value, key, hdrs)).parsed.ok) accepted++;
        },
      ),
      runs(2000),
    );
    expect(accepted).toBeGreaterThan(0);
  });

  test('deeply nested JSON, in every place a JSON value is read', () => {
    const nested = fc
      .tuple(fc.integer({ min: 0, max: 12_000 }), fc.constantFrom('[', '{"a":', '[{"b":'), fc.boolean())
      .map(([depth, open, closed]) => {
        const close = open === '[' ? ']' : open === '{"a":' ? '}' : '}]';
        return open.repeat(depth) + '1' + (closed ? close.repeat(depth) : '');
      });
    const placed = fc.tuple(nested, fc.constantFrom('value', 'structured', 'plain', 'binary', 'binary-json'));
    fc.assert(
      fc.property(placed, ([json, where]) => {
        const ce = { specversion: '1.0', id: 'deep', source: '/s', type: 't' };
        const head = JSON.stringify(ce).slice(0, -1);
        const out =
          where === 'value'
            ? check(record(Buffer.from(json), null, {}))
            : where === 'structured'
              ? check(record(Buffer.from(`${head},"data":${json}}`), null, {}))
              : where === 'plain'
                ? check(record(Buffer.from(`{"id":"deep","type":"t","x":${json}}`), null, {}))
                : check(
                    record(Buffer.from(json), null, {
                      ce_specversion: Buffer.from('1.0'),
                      ce_id: Buffer.from('deep'),
                      ce_source: Buffer.from('/s'),
                      ce_type: Buffer.from('t'),
                      ...(where === 'binary-json' ? { 'content-type': Buffer.from('application/json') } : {}),
                    }),
                  );
        if (!out.parsed.ok) expect(out.parsed.reason).toBe('invalid_envelope');
      }),
      runs(300),
    );
  });
});

/** Records the fuzzing found mishandled, each fixed; every one of these failed before its fix. */
describe('regressions found by the fuzzing', () => {
  const ce = { specversion: '1.0', id: 'e-1', source: '/orders', type: 'account.credited' };
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  const binary = (extra: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries({
        ce_specversion: '1.0',
        ce_id: 'e-1',
        ce_source: '/orders',
        ce_type: 't',
        ...extra,
      }).map(([k, v]) => [k, Buffer.from(v)]),
    );
  const rejected = (rec: KafkaRecord) => {
    const { parsed } = check(rec);
    if (parsed.ok) throw new Error(`expected a rejection, got an event: ${JSON.stringify(parsed.event)}`);
    return parsed;
  };
  const accepted = (rec: KafkaRecord) => {
    const { parsed } = check(rec);
    if (!parsed.ok) throw new Error(`expected an event, got ${parsed.reason}: ${parsed.error}`);
    return parsed.event;
  };
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

  test.each<[string, KafkaRecord, RegExp]>([
    [
      'a control character in a structured id',
      record(json({ ...ce, id: 'a\u0000b' }), null, {}),
      /attribute "id" contains the control character U\+0000 at index 1/,
    ],
    [
      'an escape sequence in a structured type',
      record(json({ ...ce, type: '\u001b[2Jt' }), null, {}),
      /attribute "type" contains the control character U\+001B at index 0/,
    ],
    [
      'a C1 control character in the source',
      record(json({ ...ce, source: '/a\u0085' }), null, {}),
      /attribute "source" contains the control character U\+0085 at index 2/,
    ],
    [
      'a noncharacter in the id',
      record(json({ ...ce, id: 'x\uFFFE' }), null, {}),
      /attribute "id" contains the noncharacter U\+FFFE at index 1/,
    ],
    [
      'a noncharacter of plane 1 in the id',
      record(json({ ...ce, id: 'x\uD83F\uDFFF' }), null, {}),
      /the noncharacter U\+1FFFF at index 1/,
    ],
    [
      'a control character in a plain id',
      record(json({ id: 'a\nb', type: 't' }), null, {}),
      /plain JSON event: attribute "id" contains the control character U\+000A/,
    ],
    [
      'a control character in a binary ce_subject',
      record(Buffer.from('{}'), null, binary({ ce_subject: 's\u0007' })),
      /attribute "subject" contains the control character U\+0007/,
    ],
    [
      'a control character in an extension string',
      record(json({ ...ce, traceparent: '00\u0000' }), null, {}),
      /attribute "traceparent" contains the control character U\+0000/,
    ],
    [
      'a Kafka key over 1,000 bytes',
      record(json(ce), Buffer.alloc(1001, 'k'), {}),
      /^the ordering key \(the Kafka key\) is 1001 bytes; the limit is 1000 bytes$/,
    ],
    [
      'a subject over 1,000 bytes without a Kafka key',
      record(json({ ...ce, subject: 'é'.repeat(501) }), null, {}),
      /^the ordering key \(the subject\) is 1002 bytes; the limit is 1000 bytes$/,
    ],
    [
      'structured data nested 512 deep (513 with the event object)',
      record(Buffer.from(`${JSON.stringify(ce).slice(0, -1)},"data":${nested(512)}}`), null, {
        'content-type': Buffer.from('application/cloudevents+json'),
      }),
      /^structured-mode CloudEvent: value nests arrays and objects deeper than the limit of 512 levels$/,
    ],
    [
      'a plain event nested 10,000 deep',
      record(Buffer.from(`{"id":"a","type":"t","x":${nested(10_000)}}`), null, {}),
      /^value nests arrays and objects deeper than the limit of 512 levels$/,
    ],
    [
      'a binary JSON value nested 10,000 deep',
      record(Buffer.from(nested(10_000)), null, {
        ...binary(),
        'content-type': Buffer.from('application/json'),
      }),
      /^binary-mode CloudEvent: value nests arrays/,
    ],
    [
      'a binary value without content type that is JSON nested 10,000 deep',
      record(Buffer.from(nested(10_000)), null, binary()),
      /^binary-mode CloudEvent: value nests arrays/,
    ],
    [
      'binary: ce_id sent twice with different values (kafkajs gives an array)',
      record(Buffer.from('{}'), null, { ...binary(), ce_id: [Buffer.from('a'), Buffer.from('b')] }),
      /^binary-mode CloudEvent: header "ce_id" comes twice with different values$/,
    ],
    [
      'content-type sent twice with different values',
      record(json(ce), null, {
        'content-type': [Buffer.from('application/cloudevents+json'), Buffer.from('application/json')],
      }),
      /^header "content-type" comes twice with different values; the content mode is ambiguous$/,
    ],
    [
      'binary: a ce_datacontenttype header beside content-type',
      record(Buffer.from('{}'), null, {
        ...binary({ ce_datacontenttype: 'text/plain' }),
        'content-type': Buffer.from('application/json'),
      }),
      /header "ce_datacontenttype" is not allowed; in binary mode the content-type header is the datacontenttype/,
    ],
  ])('%s: invalid_envelope', (_name, rec, message) => {
    const parsed = rejected(rec);
    expect(parsed.reason).toBe('invalid_envelope');
    expect(parsed.error).toMatch(message);
  });

  test('control characters of the record are escaped in the error (JSON.parse quotes the text)', () => {
    const parsed = rejected(record(Buffer.from('\u001b[31m{'), null, {}));
    expect(parsed.error).toMatch(/^value is not valid JSON: /);
    expect(parsed.error).toContain('\\u001b[31m');
    expect(parsed.error).not.toContain('\u001b');
  });

  test('a Kafka key with U+0000 (a big-endian integer) is the ordering key as base64, storable in PostgreSQL', () => {
    expect(accepted(record(json(ce), Buffer.from([0, 0, 0, 42]), {})).key).toBe('AAAAKg==');
    // Keys without U+0000 keep their text, control characters and all.
    expect(accepted(record(json(ce), Buffer.from([1, 2, 3]), {})).key).toBe('\u0001\u0002\u0003');
  });

  test('limits hold exactly: a 1,000-byte key, JSON 512 deep (the event object counts), brackets inside strings', () => {
    expect(accepted(record(json(ce), Buffer.alloc(1000, 'k'), {})).key).toHaveLength(1000);
    const head = JSON.stringify(ce).slice(0, -1);
    expect(accepted(record(Buffer.from(`${head},"data":${nested(511)}}`), null, {})).data).toBeDefined();
    expect(accepted(record(Buffer.from(nested(512)), null, binary())).data).toBeDefined();
    const inString = accepted(record(json({ ...ce, data: { text: '['.repeat(10_000) } }), null, {}));
    expect(inString.data).toEqual({ text: '['.repeat(10_000) });
    // Not JSON (never closed), so binary mode keeps the text as it is.
    expect(accepted(record(Buffer.from('['.repeat(10_000)), null, binary())).data).toBe('['.repeat(10_000));
  });

  test('a ce_* header sent twice with the same value is one header', () => {
    const event = accepted(record(Buffer.from('{}'), null, { ...binary(), ce_id: ['a', Buffer.from('a')] }));
    expect(event.id).toBe('a');
  });

  test('a plain event keeps its lenience: a subject with a line break is payload, not an attribute', () => {
    const event = accepted(record(json({ id: 'a', type: 'email.sent', subject: 'Hello\nWorld' }), null, {}));
    expect(event.subject).toBeUndefined();
    expect(event.key).toBeUndefined();
    expect(event.data).toEqual({ id: 'a', type: 'email.sent', subject: 'Hello\nWorld' });
  });

  test('ids with ":" and "/" are valid CloudEvents ids: accepted, with a workflow ID built safely', () => {
    for (const [id, form] of [
      ['a:b/c', /^event:\/orders:a:b\/c$/],
      ['../../etc/passwd', /^event:\/orders:\.\.\/\.\.\/etc\/passwd$/],
      ['a b%00', /^event-sha256:[0-9a-f]{64}$/],
    ] as const) {
      const { parsed, workflowId } = check(record(json({ ...ce, id }), null, {}));
      expect(parsed.ok).toBe(true);
      expect(workflowId).toMatch(form);
    }
    const { workflowId } = check(
      record(json({ ...ce, source: 'https://x/y', id: 'i'.repeat(1000) }), null, {}),
    );
    expect(workflowId).toMatch(/^event-sha256:[0-9a-f]{64}$/);
  });
});
