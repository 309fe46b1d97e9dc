import fc from 'fast-check';

import type { KafkaHeaderValue, KafkaRecord, ParseResult } from '../../src/events/envelope';
import {
  decodeBytes,
  encodeBytes,
  parseRawMessage,
  parseRecord,
  rawToKafkaParts,
  toRawMessage,
} from '../../src/events/envelope';
import type { DlqReason, IdemEvent, RawMessage } from '../../src/events/types';

const opts = { maxEventBytes: 10_000 };

function record(
  value: Buffer | string | object | null,
  extra: { key?: Buffer | string | null; headers?: Record<string, KafkaHeaderValue>; topic?: string } = {},
): KafkaRecord {
  const toBuf = (v: Buffer | string | object): Buffer =>
    Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');
  return {
    topic: extra.topic ?? 'events',
    partition: 3,
    offset: '42',
    timestamp: '1700000000000',
    key: extra.key === undefined || extra.key === null ? null : toBuf(extra.key),
    value: value === null ? null : toBuf(value),
    headers: extra.headers ?? {},
  };
}

const ce = { specversion: '1.0', id: 'e-1', source: '/orders', type: 'account.credited' };
const structuredCt = { 'content-type': Buffer.from('application/cloudevents+json') };
const binaryHeaders = (extra: Record<string, string> = {}): Record<string, Buffer> =>
  Object.fromEntries(
    Object.entries({
      ce_specversion: '1.0',
      ce_id: 'e-1',
      ce_source: '/orders',
      ce_type: 't.x',
      ...extra,
    }).map(([k, v]) => [k, Buffer.from(v)]),
  );

function expectOk(result: ParseResult): IdemEvent {
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.error}`);
  return result.event;
}

describe('parseRecord: accepted events', () => {
  const cases: [string, KafkaRecord, IdemEvent][] = [
    [
      'structured, by content-type',
      record({ ...ce, data: { account: 'a', amount: 5 } }, { headers: structuredCt }),
      { ...ce, data: { account: 'a', amount: 5 }, mode: 'structured' },
    ],
    [
      'structured, content-type with parameters and upper case',
      record(ce, { headers: { 'Content-Type': 'Application/CloudEvents+JSON; charset=UTF-8' } }),
      { ...ce, data: null, mode: 'structured' },
    ],
    [
      'structured, by specversion member (no headers)',
      record({
        ...ce,
        subject: 'acct-1',
        time: '2024-01-01T00:00:00Z',
        datacontenttype: 'application/json',
        data: [1],
      }),
      {
        ...ce,
        subject: 'acct-1',
        key: 'acct-1',
        time: '2024-01-01T00:00:00Z',
        datacontenttype: 'application/json',
        data: [1],
        mode: 'structured',
      },
    ],
    [
      'structured, null optional attributes count as absent, data null kept',
      record({ ...ce, subject: null, time: null, data: null }),
      { ...ce, data: null, mode: 'structured' },
    ],
    [
      'structured, data_base64 kept as the base64 string',
      record({ ...ce, data_base64: 'AAEC' }),
      { ...ce, data: 'AAEC', mode: 'structured' },
    ],
    [
      'structured, extension attributes ignored',
      record({ ...ce, traceparent: '00-abc', partitionkey: 'p' }),
      { ...ce, data: null, mode: 'structured' },
    ],
    [
      'binary, JSON content type',
      record('{"account":"a","amount":7}', {
        headers: {
          ...binaryHeaders({ ce_subject: 's1', ce_time: '2024-01-01T00:00:00.5+02:00' }),
          'content-type': Buffer.from('application/json'),
        },
      }),
      {
        id: 'e-1',
        source: '/orders',
        type: 't.x',
        specversion: '1.0',
        subject: 's1',
        key: 's1',
        time: '2024-01-01T00:00:00.5+02:00',
        datacontenttype: 'application/json',
        data: { account: 'a', amount: 7 },
        mode: 'binary',
      },
    ],
    [
      'binary, +json content type',
      record('[1,2]', { headers: { ...binaryHeaders(), 'content-type': 'application/vnd.x+json' } }),
      {
        id: 'e-1',
        source: '/orders',
        type: 't.x',
        specversion: '1.0',
        datacontenttype: 'application/vnd.x+json',
        data: [1, 2],
        mode: 'binary',
      },
    ],
    [
      'binary, no content type, JSON value parsed',
      record('{"a":1}', { headers: binaryHeaders() }),
      { id: 'e-1', source: '/orders', type: 't.x', specversion: '1.0', data: { a: 1 }, mode: 'binary' },
    ],
    [
      'binary, no content type, non-JSON value kept as text',
      record('hello', { headers: binaryHeaders() }),
      { id: 'e-1', source: '/orders', type: 't.x', specversion: '1.0', data: 'hello', mode: 'binary' },
    ],
    [
      'binary, text content type keeps JSON-looking text',
      record('{"a":1}', { headers: { ...binaryHeaders(), 'content-type': 'text/plain' } }),
      {
        id: 'e-1',
        source: '/orders',
        type: 't.x',
        specversion: '1.0',
        datacontenttype: 'text/plain',
        data: '{"a":1}',
        mode: 'binary',
      },
    ],
    [
      'binary, upper-case prefix, extensions ignored',
      record('1', {
        headers: { CE_specversion: '1.0', CE_id: 'e-1', Ce_source: '/o', ce_type: 't', ce_traceparent: 'x' },
      }),
      { id: 'e-1', source: '/o', type: 't', specversion: '1.0', data: 1, mode: 'binary' },
    ],
    [
      'plain, data member',
      record({ id: 'p-1', type: 'account.debited', data: { account: 'a', amount: 3 } }),
      {
        id: 'p-1',
        source: 'events',
        type: 'account.debited',
        specversion: '1.0',
        data: { account: 'a', amount: 3 },
        mode: 'plain',
      },
    ],
    [
      'plain, no data member: data is the whole object; source defaults to the topic',
      record({ id: 'p-1', type: 't', amount: 3 }, { topic: 'ledger' }),
      {
        id: 'p-1',
        source: 'ledger',
        type: 't',
        specversion: '1.0',
        data: { id: 'p-1', type: 't', amount: 3 },
        mode: 'plain',
      },
    ],
    [
      'plain, explicit source and subject; non-string time ignored',
      record({ id: 'p-1', type: 't', source: 'billing', subject: 'acct-9', time: 1700000000, data: null }),
      {
        id: 'p-1',
        source: 'billing',
        type: 't',
        specversion: '1.0',
        subject: 'acct-9',
        key: 'acct-9',
        data: null,
        mode: 'plain',
      },
    ],
    [
      'plain, null source defaults to the topic',
      record({ id: 'p-1', type: 't', source: null, data: 1 }),
      { id: 'p-1', source: 'events', type: 't', specversion: '1.0', data: 1, mode: 'plain' },
    ],
    [
      'plain, leading byte order mark',
      record(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"id":"p","type":"t","data":1}')])),
      { id: 'p', source: 'events', type: 't', specversion: '1.0', data: 1, mode: 'plain' },
    ],
    [
      'limits: id and source of 1,000 characters, type of 255',
      record({ ...ce, id: 'i'.repeat(1000), source: 's'.repeat(1000), type: 't'.repeat(255) }),
      {
        ...ce,
        id: 'i'.repeat(1000),
        source: 's'.repeat(1000),
        type: 't'.repeat(255),
        data: null,
        mode: 'structured',
      },
    ],
    [
      'limits are counted in code points: 1,000 emoji (2,000 UTF-16 units)',
      record({ ...ce, id: '😀'.repeat(1000) }),
      { ...ce, id: '😀'.repeat(1000), data: null, mode: 'structured' },
    ],
  ];

  test.each(cases)('%s', (_name, rec, expected) => {
    const result = parseRecord(rec, opts);
    expect(expectOk(result)).toStrictEqual(expected);
  });

  test('a value of exactly maxEventBytes is accepted', () => {
    const value = Buffer.from(JSON.stringify({ id: 'x', type: 't', pad: '' }));
    expect(parseRecord(record(value), { maxEventBytes: value.length }).ok).toBe(true);
  });
});

describe('parseRecord: rejected events', () => {
  const id1001 = 'i'.repeat(1001);
  const cases: [string, KafkaRecord, DlqReason, string | RegExp][] = [
    [
      'null value (tombstone)',
      record(null),
      'invalid_envelope',
      'value is null (a tombstone record); expected an event',
    ],
    ['empty value', record(''), 'invalid_envelope', 'value is empty; expected an event'],
    [
      'too large',
      record({ ...ce, data: 'x'.repeat(10_001) }),
      'too_large',
      /^value is 10\d{3} bytes; the limit is 10000 bytes \(IDEM_MAX_EVENT_BYTES\)$/,
    ],
    [
      'too large is checked before UTF-8',
      record(Buffer.alloc(10_001, 0xff)),
      'too_large',
      'value is 10001 bytes; the limit is 10000 bytes (IDEM_MAX_EVENT_BYTES)',
    ],
    [
      'invalid UTF-8',
      record(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])),
      'invalid_utf8',
      'value is not valid UTF-8 (first invalid byte at offset 2 of 6)',
    ],
    [
      'UTF-8-encoded surrogate (CESU-8) is invalid',
      record(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])),
      'invalid_utf8',
      /offset 1 of 5/,
    ],
    ['overlong encoding is invalid', record(Buffer.from([0xc0, 0xaf])), 'invalid_utf8', /offset 0 of 2/],
    [
      'truncated sequence is invalid',
      record(Buffer.from([0x41, 0xe2, 0x82])),
      'invalid_utf8',
      /offset 1 of 3/,
    ],
    ['not JSON', record('hello world'), 'invalid_envelope', /^value is not valid JSON: /],
    [
      'JSON array',
      record('[{"id":"a","type":"t"}]'),
      'invalid_envelope',
      'value is a JSON array; expected a JSON object',
    ],
    ['JSON null', record('null'), 'invalid_envelope', 'value is JSON null; expected a JSON object'],
    ['JSON number', record('12'), 'invalid_envelope', 'value is a JSON number; expected a JSON object'],
    ['JSON string', record('"x"'), 'invalid_envelope', 'value is a JSON string; expected a JSON object'],
    [
      'structured by content-type but not an object',
      record('[]', { headers: structuredCt }),
      'invalid_envelope',
      'structured-mode CloudEvent: value is a JSON array; expected a JSON object',
    ],
    [
      'structured: missing id',
      record({ ...ce, id: undefined }),
      'invalid_envelope',
      'structured-mode CloudEvent: missing required attribute "id"',
    ],
    [
      'structured: missing source',
      record({ ...ce, source: undefined }),
      'invalid_envelope',
      'structured-mode CloudEvent: missing required attribute "source"',
    ],
    [
      'structured: missing type',
      record({ ...ce, type: undefined }, { headers: structuredCt }),
      'invalid_envelope',
      'structured-mode CloudEvent: missing required attribute "type"',
    ],
    [
      'structured: null source',
      record({ ...ce, source: null }),
      'invalid_envelope',
      'structured-mode CloudEvent: missing required attribute "source"',
    ],
    [
      'structured: missing specversion',
      record({ id: 'a', source: 's', type: 't' }, { headers: structuredCt }),
      'invalid_envelope',
      'structured-mode CloudEvent: missing required attribute "specversion"',
    ],
    [
      'specversion 0.3',
      record({ ...ce, specversion: '0.3' }),
      'invalid_envelope',
      'structured-mode CloudEvent: unsupported specversion "0.3"; only "1.0" is supported',
    ],
    [
      'specversion 2.0',
      record({ ...ce, specversion: '2.0' }, { headers: structuredCt }),
      'invalid_envelope',
      'structured-mode CloudEvent: unsupported specversion "2.0"; only "1.0" is supported',
    ],
    [
      'specversion as a number',
      record({ ...ce, specversion: 1.0 }),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "specversion" must be a string, got number',
    ],
    [
      'id of 1,001 characters',
      record({ ...ce, id: id1001 }),
      'invalid_envelope',
      'structured-mode CloudEvent: id is 1001 characters; the limit is 1000',
    ],
    [
      'source of 1,001 characters',
      record({ ...ce, source: 's'.repeat(1001) }),
      'invalid_envelope',
      'structured-mode CloudEvent: source is 1001 characters; the limit is 1000',
    ],
    [
      'type of 256 characters',
      record({ ...ce, type: 't'.repeat(256) }),
      'invalid_envelope',
      'structured-mode CloudEvent: type is 256 characters; the limit is 255',
    ],
    [
      'empty id',
      record({ ...ce, id: '' }),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "id" must not be empty',
    ],
    [
      'numeric id',
      record({ ...ce, id: 7 }),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "id" must be a string, got number',
    ],
    [
      'unpaired surrogate in id',
      record('{"specversion":"1.0","id":"a\\ud800","source":"s","type":"t"}'),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "id" contains an unpaired surrogate \\uD800 at index 1; it must be valid Unicode',
    ],
    [
      'structured: subject not a string',
      record({ ...ce, subject: 5 }),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "subject" must be a string, got number',
    ],
    [
      'structured: both data and data_base64',
      record({ ...ce, data: 1, data_base64: 'AA==' }),
      'invalid_envelope',
      'structured-mode CloudEvent: has both "data" and "data_base64"; at most one is allowed',
    ],
    [
      'structured: data_base64 not a string',
      record({ ...ce, data_base64: 1 }),
      'invalid_envelope',
      'structured-mode CloudEvent: attribute "data_base64" must be a string, got number',
    ],
    [
      'batched mode',
      record('[]', { headers: { 'content-type': 'application/cloudevents-batch+json' } }),
      'invalid_envelope',
      /^batched CloudEvents \(content-type "application\/cloudevents-batch\+json"\) are not supported/,
    ],
    [
      'non-JSON event format',
      record('x', { headers: { 'content-type': 'application/cloudevents+avro' } }),
      'invalid_envelope',
      /^unsupported CloudEvents event format/,
    ],
    [
      'binary: missing source',
      record('{}', { headers: { ce_specversion: '1.0', ce_id: 'a', ce_type: 't' } }),
      'invalid_envelope',
      'binary-mode CloudEvent: missing required attribute "source" (header "ce_source")',
    ],
    [
      'binary: empty id header',
      record('{}', { headers: binaryHeaders({ ce_id: '' }) }),
      'invalid_envelope',
      'binary-mode CloudEvent: missing required attribute "id" (header "ce_id")',
    ],
    [
      'binary: specversion 0.3',
      record('{}', { headers: binaryHeaders({ ce_specversion: '0.3' }) }),
      'invalid_envelope',
      'binary-mode CloudEvent: unsupported specversion "0.3"; only "1.0" is supported',
    ],
    [
      'binary: id of 1,001 characters',
      record('{}', { headers: binaryHeaders({ ce_id: id1001 }) }),
      'invalid_envelope',
      'binary-mode CloudEvent: id is 1001 characters; the limit is 1000',
    ],
    [
      'binary: header not UTF-8',
      record('{}', { headers: { ...binaryHeaders(), ce_id: Buffer.from([0xff]) } }),
      'invalid_utf8',
      'header "ce_id" is not valid UTF-8',
    ],
    [
      'binary: JSON content type but value is not JSON',
      record('not json', { headers: { ...binaryHeaders(), 'content-type': 'application/json' } }),
      'invalid_envelope',
      /^binary-mode CloudEvent: value is not valid JSON although content-type is "application\/json": /,
    ],
    [
      'plain: missing id',
      record({ type: 't', data: 1 }),
      'invalid_envelope',
      'plain JSON event: missing required attribute "id"',
    ],
    [
      'plain: missing type',
      record({ id: 'a', data: 1 }),
      'invalid_envelope',
      'plain JSON event: missing required attribute "type"',
    ],
    [
      'plain: numeric id',
      record({ id: 12, type: 't' }),
      'invalid_envelope',
      'plain JSON event: attribute "id" must be a string, got number',
    ],
    [
      'plain: empty source',
      record({ id: 'a', type: 't', source: '' }),
      'invalid_envelope',
      'plain JSON event: attribute "source" must not be empty',
    ],
    [
      'plain: non-string source',
      record({ id: 'a', type: 't', source: { x: 1 } }),
      'invalid_envelope',
      'plain JSON event: attribute "source" must be a string, got object',
    ],
    [
      'plain: id of 1,001 characters',
      record({ id: id1001, type: 't' }),
      'invalid_envelope',
      'plain JSON event: id is 1001 characters; the limit is 1000',
    ],
  ];

  test.each(cases)('%s', (_name, rec, reason, message) => {
    const result = parseRecord(rec, opts);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe(reason);
    if (typeof message === 'string') expect(result.error).toBe(message);
    else expect(result.error).toMatch(message);
  });

  test('parseRecord never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.json().map((j) => Buffer.from(j)),
        ),
        fc.option(fc.uint8Array({ maxLength: 8 })),
        fc.dictionary(
          fc.constantFrom('content-type', 'ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'x'),
          fc.oneof(
            fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
            fc.constantFrom('1.0', 'a'),
          ),
        ),
        (value, key, headers) => {
          const rec = record(Buffer.from(value), { key: key === null ? null : Buffer.from(key), headers });
          const result = parseRecord(rec, opts);
          expect(typeof result.ok).toBe('boolean');
          if (!result.ok) expect(result.error).not.toMatch(/unexpected error/);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('ordering key', () => {
  const withSubject = { ...ce, subject: 'subj' };
  test.each([
    ['Kafka key wins over subject', record(withSubject, { key: 'k1' }), 'k1'],
    ['subject when the key is null', record(withSubject), 'subj'],
    ['subject when the key is empty', record(withSubject, { key: Buffer.alloc(0) }), 'subj'],
    ['Kafka key without subject', record(ce, { key: 'k1' }), 'k1'],
    ['non-UTF-8 key as base64', record(withSubject, { key: Buffer.from([0xff, 0x00, 0x01]) }), '/wAB'],
    ['binary mode: ce_subject fallback', record('1', { headers: binaryHeaders({ ce_subject: 'bs' }) }), 'bs'],
    ['binary mode: key wins', record('1', { key: 'k', headers: binaryHeaders({ ce_subject: 'bs' }) }), 'k'],
    ['plain: subject fallback', record({ id: 'a', type: 't', subject: 'ps' }), 'ps'],
  ])('%s', (_name, rec, key) => {
    expect(expectOk(parseRecord(rec, opts)).key).toBe(key);
  });

  test('no key and no subject → no ordering key', () => {
    const event = expectOk(parseRecord(record(ce), opts));
    expect(event.key).toBeUndefined();
    expect('key' in event).toBe(false);
  });
});

describe('RawMessage', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);

  test('toRawMessage encodes text as utf8 and other bytes as base64; first value of repeated headers', () => {
    const rec = record(Buffer.concat([bom, Buffer.from('{"id":"é","type":"t"}')]), {
      key: Buffer.from([0xff, 0xfe]),
      headers: {
        text: Buffer.from('héllo'),
        bin: Buffer.from([0x80]),
        str: 'plain string',
        repeated: [Buffer.from('first'), 'second'],
        emptyArray: [],
        missing: undefined,
        empty: Buffer.alloc(0),
      },
    });
    const raw = toRawMessage(rec);
    expect(raw).toStrictEqual({
      topic: 'events',
      partition: 3,
      offset: '42',
      timestamp: '1700000000000',
      key: { base64: '//4=' },
      value: '\uFEFF{"id":"é","type":"t"}',
      headers: {
        text: { utf8: 'héllo' },
        bin: { base64: 'gA==' },
        str: { utf8: 'plain string' },
        repeated: { utf8: 'first' },
        empty: { utf8: '' },
      },
    });
    const parts = rawToKafkaParts(raw);
    expect(parts.key).toEqual(rec.key);
    expect(parts.value).toEqual(rec.value);
    expect(parts.headers).toEqual({
      text: Buffer.from('héllo'),
      bin: Buffer.from([0x80]),
      str: Buffer.from('plain string'),
      repeated: Buffer.from('first'),
      empty: Buffer.alloc(0),
    });
  });

  test('null key and empty key stay distinct', () => {
    expect(rawToKafkaParts(toRawMessage(record('{}'))).key).toBeNull();
    expect(rawToKafkaParts(toRawMessage(record('{}', { key: Buffer.alloc(0) }))).key).toEqual(
      Buffer.alloc(0),
    );
  });

  test('a header named __proto__ survives', () => {
    const headers: Record<string, KafkaHeaderValue> = {};
    Object.defineProperty(headers, '__proto__', { value: Buffer.from('p'), enumerable: true });
    const raw = toRawMessage(record('{}', { headers }));
    expect(Object.keys(raw.headers)).toEqual(['__proto__']);
    const parts = rawToKafkaParts(JSON.parse(JSON.stringify(raw)) as RawMessage);
    expect(Object.keys(parts.headers)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(parts.headers, '__proto__')?.value).toEqual(Buffer.from('p'));
  });

  test('toRawMessage refuses a null or non-UTF-8 value', () => {
    expect(() => toRawMessage(record(null))).toThrow(/null/);
    expect(() => toRawMessage(record(Buffer.from([0xff])))).toThrow(/UTF-8/);
  });

  test('encodeBytes / decodeBytes roundtrip any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(decodeBytes(encodeBytes(buf)).equals(buf)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test('roundtrip is byte-exact, also through JSON (the Temporal payload)', () => {
    const utf8Text = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1 }),
      fc.string({ unit: 'binary', minLength: 1 }),
      fc.constant('\uFEFF{"bom":true}'),
    );
    const validUtf8Value = utf8Text
      .map((s) => Buffer.from(s, 'utf8'))
      .filter((b) => b.length > 0 && Buffer.from(b.toString('utf8'), 'utf8').equals(b));
    const bytes = fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b));
    const headerValue = fc.oneof(
      bytes,
      utf8Text.map((s) => Buffer.from(s, 'utf8')),
    );
    fc.assert(
      fc.property(
        validUtf8Value,
        fc.option(bytes),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), headerValue, { maxKeys: 6 }),
        (value, key, headers) => {
          const rec = record(value, { key, headers });
          const raw = toRawMessage(rec);
          for (const r of [raw, JSON.parse(JSON.stringify(raw)) as RawMessage]) {
            const parts = rawToKafkaParts(r);
            expect(parts.value.equals(value)).toBe(true);
            if (key === null) expect(parts.key).toBeNull();
            else expect(parts.key?.equals(key)).toBe(true);
            expect(Object.keys(parts.headers)).toEqual(Object.keys(headers));
            for (const [name, v] of Object.entries(headers)) {
              expect(parts.headers[name]?.equals(v)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parseRawMessage agrees with parseRecord', () => {
  test('on hand-written records', () => {
    const recs = [
      record({ ...ce, data: { a: 1 } }, { key: 'k', headers: structuredCt }),
      record('{"x":1}', { key: Buffer.from([0xff]), headers: binaryHeaders({ ce_subject: 's' }) }),
      record({ id: 'a', type: 't' }, { topic: 'other' }),
      record({ ...ce, specversion: '0.3' }),
      record('[1]'),
      record({ ...ce, data: 'x'.repeat(20_000) }),
      record('{}', { headers: { ...binaryHeaders(), ce_type: Buffer.from([0xc3]) } }),
    ];
    for (const rec of recs) {
      const direct = parseRecord(rec, opts);
      const raw = toRawMessage(rec);
      expect(parseRawMessage(raw, opts)).toStrictEqual(direct);
      // ... and after a trip through JSON, as inside an activity
      expect(parseRawMessage(JSON.parse(JSON.stringify(raw)) as RawMessage, opts)).toEqual(direct);
    }
  });

  test('on generated records', () => {
    const attr = fc.oneof(fc.constantFrom('1.0', '0.3', '', 'a:b', 'x'), fc.string({ maxLength: 5 }));
    const obj = fc.record(
      {
        specversion: attr,
        id: fc.oneof(attr, fc.integer()),
        source: attr,
        type: attr,
        subject: attr,
        data: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        obj,
        fc.option(fc.string({ maxLength: 4 })),
        fc.constantFrom(undefined, 'application/cloudevents+json', 'application/json'),
        fc.boolean(),
        (o, key, ct, binary) => {
          const headers: Record<string, string> = {};
          if (ct !== undefined) headers['content-type'] = ct;
          if (binary)
            Object.assign(headers, { ce_specversion: '1.0', ce_id: 'i', ce_source: 's', ce_type: 't' });
          const rec = record(o, { key, headers });
          const direct = parseRecord(rec, { maxEventBytes: 200 });
          const viaRaw = parseRawMessage(toRawMessage(rec), { maxEventBytes: 200 });
          expect(viaRaw).toStrictEqual(direct);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('parseRawMessage checks emptiness and size itself', () => {
    const raw = toRawMessage(record('{"id":"a","type":"t"}'));
    expect(parseRawMessage({ ...raw, value: '' }, opts)).toStrictEqual({
      ok: false,
      reason: 'invalid_envelope',
      error: 'value is empty; expected an event',
    });
    expect(parseRawMessage({ ...raw, value: 'é'.repeat(6) }, { maxEventBytes: 11 })).toMatchObject({
      ok: false,
      reason: 'too_large',
      error: 'value is 12 bytes; the limit is 11 bytes (IDEM_MAX_EVENT_BYTES)',
    });
  });
});
