/**
 * CloudEvents 1.0 conformance, table-driven: the JSON event format (structured mode) and the
 * Kafka protocol binding (binary mode), each constraint of the specification with an event that
 * meets it and one that breaks it. Broken ones are `invalid_envelope` with a message naming the
 * attribute; plain JSON without `specversion` stays accepted as documented.
 */
import { parseRecord, type KafkaRecord } from '../../src/events/envelope';

const base = { specversion: '1.0', id: 'e-1', source: '/orders', type: 'order.placed' };

function kafkaRecord(value: string, headers: Record<string, string>): KafkaRecord {
  return {
    topic: 'events',
    partition: 0,
    offset: '1',
    timestamp: '1700000000000',
    key: null,
    value: Buffer.from(value),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

function structured(attrs: Record<string, unknown>): KafkaRecord {
  return kafkaRecord(JSON.stringify({ ...base, ...attrs }), {
    'content-type': 'application/cloudevents+json',
  });
}

/** Binary mode; a header set to '<absent>' is left out. */
function binary(headers: Record<string, string>, value = '{"a":1}'): KafkaRecord {
  const all: Record<string, string> = {
    ce_specversion: '1.0',
    ce_id: 'e-1',
    ce_source: '/orders',
    ce_type: 'order.placed',
    ...headers,
  };
  for (const [k, v] of Object.entries(all)) if (v === '<absent>') delete all[k];
  return kafkaRecord(value, all);
}

const parse = (r: KafkaRecord) => parseRecord(r, { maxEventBytes: 100_000 });

describe('accepted', () => {
  test.each<[string, KafkaRecord]>([
    ['structured: the four required attributes', structured({})],
    ['time with Z', structured({ time: '2024-02-29T23:59:60Z' })],
    ['time with fraction and offset', structured({ time: '2024-05-01T12:00:00.123456-07:30' })],
    ['datacontenttype with parameters', structured({ datacontenttype: 'application/json; charset=utf-8' })],
    ['datacontenttype vendor +json', structured({ datacontenttype: 'application/vnd.acme.order+json' })],
    ['dataschema absolute URI', structured({ dataschema: 'https://schemas.example/order/1.json' })],
    ['source URI-reference', structured({ source: 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66' })],
    ['source relative reference', structured({ source: 'orders/eu' })],
    [
      'extensions: string, boolean, integer, null',
      structured({ traceparent: '00-ab', sampled: true, partitionkey: 7, ext1: null }),
    ],
    ['data_base64', structured({ data_base64: 'aGVsbG8=' })],
    ['binary: required headers', binary({})],
    [
      'binary: time, subject, dataschema, extension',
      binary({
        ce_time: '2024-05-01T12:00:00Z',
        ce_subject: 's',
        ce_dataschema: 'urn:x:y',
        ce_traceparent: '00',
      }),
    ],
    ['binary: content-type with parameter', binary({ 'content-type': 'application/json; charset=utf-8' })],
  ])('%s', (_name, record) => {
    const r = parse(record);
    expect(r.ok ? 'ok' : `${r.reason}: ${r.error}`).toBe('ok');
  });

  test('plain JSON without specversion stays accepted, lenient as documented', () => {
    const r = parseRecord(
      {
        ...structured({}),
        value: Buffer.from(JSON.stringify({ id: 'p', type: 't', time: 'yesterday', subject: '' })),
        headers: {},
      },
      { maxEventBytes: 100_000 },
    );
    expect(r.ok).toBe(true);
  });
});

describe('rejected as invalid_envelope', () => {
  test.each<[string, KafkaRecord, RegExp]>([
    ['time not RFC 3339', structured({ time: 'yesterday' }), /"time" must be an RFC 3339 timestamp/],
    ['time without offset', structured({ time: '2024-05-01T12:00:00' }), /RFC 3339/],
    ['time without seconds', structured({ time: '2024-05-01T12:00Z' }), /RFC 3339/],
    ['time, impossible date', structured({ time: '2023-02-29T00:00:00Z' }), /RFC 3339/],
    ['time, hour 24', structured({ time: '2024-05-01T24:00:00Z' }), /RFC 3339/],
    ['time not a string', structured({ time: 1700000000 }), /"time" must be a string/],
    ['empty subject', structured({ subject: '' }), /"subject" must not be empty/],
    ['empty dataschema', structured({ dataschema: '' }), /"dataschema" must not be empty/],
    ['empty datacontenttype', structured({ datacontenttype: '' }), /"datacontenttype" must not be empty/],
    ['datacontenttype not a media type', structured({ datacontenttype: 'json' }), /RFC 2046 media type/],
    [
      'datacontenttype with a space in the type',
      structured({ datacontenttype: 'application/ json' }),
      /RFC 2046/,
    ],
    [
      'dataschema relative',
      structured({ dataschema: 'schemas/order.json' }),
      /"dataschema" must be an absolute URI/,
    ],
    ['source with a space', structured({ source: 'my service' }), /"source" must be a URI-reference/],
    ['source with a no-break space', structured({ source: 'my\u00a0service' }), /URI-reference/],
    ['source with an ideographic space', structured({ source: 'my\u3000service' }), /URI-reference/],
    ['id with a noncharacter', structured({ id: 'e-\ufffe' }), /noncharacter U\+FFFE/],
    ['type with an unpaired surrogate', structured({ type: 'order.\ud800' }), /unpaired surrogate/],
    [
      'source with a control character',
      structured({ source: 'a\u0001b' }),
      /"source" contains the control character U\+0001 at index 1/,
    ],
    ['source with a C1 control character', structured({ source: 'a\u0085b' }), /control character U\+0085/],
    ['empty id', structured({ id: '' }), /"id" must not be empty/],
    ['id not a string', structured({ id: 7 }), /"id" must be a string/],
    ['extension name upper-case', structured({ traceParent: 'x' }), /extension attribute name "traceParent"/],
    ['extension name with a dash', structured({ 'trace-id': 'x' }), /a-z and digits 0-9 only/],
    ['extension name with an underscore', structured({ trace_id: 'x' }), /a-z and digits 0-9 only/],
    [
      'extension value an object',
      structured({ traceinfo: { a: 1 } }),
      /must be a string, a boolean or a 32-bit integer/,
    ],
    ['extension value fractional', structured({ weight: 1.5 }), /32-bit integer/],
    ['extension value over 32 bits', structured({ big: 2 ** 40 }), /32-bit integer/],
    ['data and data_base64', structured({ data: 1, data_base64: 'AQ==' }), /both "data" and "data_base64"/],
    ['data_base64 not base64', structured({ data_base64: 'not base64!' }), /not valid base64/],
    ['data_base64 not a string', structured({ data_base64: 5 }), /must be a string/],
    ['binary: time not RFC 3339', binary({ ce_time: 'now' }), /RFC 3339/],
    ['binary: empty subject header', binary({ ce_subject: '' }), /"ce_subject" must not be empty/],
    ['binary: missing id', binary({ ce_id: '<absent>' }), /missing required attribute "id"/],
    ['binary: upper-case attribute name', binary({ ce_TraceParent: 'x' }), /a-z and digits 0-9 only/],
    ['binary: conflicting copies of the id', binary({ CE_id: 'e-2' }), /comes twice with different values/],
    ['binary: dataschema relative', binary({ ce_dataschema: 'x.json' }), /absolute URI/],
    ['binary: content-type not a media type', binary({ 'content-type': 'json' }), /RFC 2046/],
    ['binary: source with a space', binary({ ce_source: 'a b' }), /URI-reference/],
  ])('%s', (_name, record, message) => {
    const r = parse(record);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('invalid_envelope');
      expect(r.error).toMatch(message);
    }
  });
});
