/**
 * The hostile-input corpus (issue 9): raw Kafka records of every hostile kind, each with the
 * outcome idem must reach, interleaved with valid ledger events on the same keys. Used by
 * test/integration/hostile-input.test.ts; docs/reliability.md ("Hostile input") has the table.
 *
 * Outcomes:
 * - `ingest`: rejected before any workflow, to the DLQ with the reason; no store row, so its
 *   key is not parked and the key's next event goes straight on.
 * - `handler`: a well-formed event its handler refuses; dead-lettered by its workflow with the
 *   reason, its key parked (key parking, on by default) until an operator skips or redrives it.
 * - `applied`: a valid event, however odd; applied once, crediting `account` with `amount`.
 */
import type { IHeaders } from 'kafkajs';
import type { DlqReason } from '../../src/events/types';

export type Outcome =
  | { kind: 'ingest'; reason: DlqReason; error: RegExp }
  | { kind: 'handler'; reason: DlqReason; error: RegExp }
  | { kind: 'applied'; account: string; amount: number; dedupKey?: RegExp };

export interface CorpusRecord {
  /** What the record is; also sent as its `x-case` header. */
  name: string;
  key: Buffer | string | null;
  value: Buffer | string;
  headers?: IHeaders;
  outcome: Outcome;
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/**
 * Builds the corpus for one run. `source` is the run's CloudEvents source, `tag` makes keys,
 * ids and accounts unique to the run.
 */
export function hostileCorpus(source: string, tag: string): CorpusRecord[] {
  const out: CorpusRecord[] = [];
  let n = 0;
  const account = (k: string) => `acct-${tag}-${k}`;
  /** A valid structured-mode credit of `account(acct)`, keyed `key`. */
  const valid = (key: Buffer | string | null, acct: string, what = 'valid'): CorpusRecord => {
    const id = `v-${tag}-${++n}`;
    return {
      name: `${what} ${id}`,
      key,
      value: JSON.stringify({
        specversion: '1.0',
        id,
        source,
        type: 'account.credited',
        data: { account: account(acct), amount: 100 },
      }),
      headers: { 'content-type': 'application/cloudevents+json' },
      outcome: { kind: 'applied', account: account(acct), amount: 100 },
    };
  };
  const ce = (attrs: Record<string, unknown>) =>
    JSON.stringify({ specversion: '1.0', id: `h-${tag}-${++n}`, source, type: 'account.credited', ...attrs });
  const structured: IHeaders = { 'content-type': 'application/cloudevents+json' };
  const binary = (h: Record<string, string | Buffer | (string | Buffer)[]>): IHeaders => ({
    ce_specversion: '1.0',
    ce_id: `b-${tag}-${++n}`,
    ce_source: source,
    ce_type: 'account.credited',
    ...h,
  });
  const ingest = (reason: DlqReason, error: RegExp): Outcome => ({ kind: 'ingest', reason, error });
  const data = (acct: string) => ({ account: account(acct), amount: 100 });

  // --- Rejected at ingest, all on one key between valid events of it: the key never waits. ---
  const A = `a-${tag}`;
  const onA: Omit<CorpusRecord, 'key'>[] = [
    { name: 'not JSON', value: 'this is not json {', outcome: ingest('invalid_envelope', /not valid JSON/) },
    {
      name: 'not JSON, with terminal escapes',
      value: '\u001b[2J\u001b[31mgotcha',
      outcome: ingest('invalid_envelope', /not valid JSON/),
    },
    {
      name: 'JSON nested 10,000 deep in data',
      value: `${ce({}).slice(0, -1)},"data":${nested(10_000)}}`,
      headers: structured,
      outcome: ingest('invalid_envelope', /deeper than the limit of 512 levels/),
    },
    {
      name: 'JSON nested 10,000 deep, the whole value',
      value: `{"id":"x","type":"account.credited","x":${nested(10_000)}}`,
      outcome: ingest('invalid_envelope', /deeper than the limit of 512 levels/),
    },
    {
      name: 'binary mode, JSON value nested 10,000 deep',
      value: nested(10_000),
      headers: binary({ 'content-type': 'application/json' }),
      outcome: ingest('invalid_envelope', /deeper than the limit of 512 levels/),
    },
    {
      name: 'invalid UTF-8 in the value',
      value: Buffer.concat([
        Buffer.from(ce({}).slice(0, -1) + ',"data":"'),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('"}'),
      ]),
      headers: structured,
      outcome: ingest('invalid_utf8', /value is not valid UTF-8/),
    },
    {
      name: 'invalid UTF-8 in the ce_id header',
      value: JSON.stringify(data('a')),
      headers: binary({ ce_id: Buffer.from([0x61, 0xff, 0xfe]) }),
      outcome: ingest('invalid_utf8', /header "ce_id" is not valid UTF-8/),
    },
    {
      name: 'invalid UTF-8 in the content-type header',
      value: ce({ data: data('a') }),
      headers: { 'content-type': Buffer.from([0x61, 0x70, 0xc0, 0xaf]) },
      outcome: ingest('invalid_utf8', /header "content-type" is not valid UTF-8/),
    },
    {
      name: 'control characters in the id (terminal escape)',
      value: ce({ id: '\u001b]0;owned\u0007', data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /attribute "id" contains the control character U\+001B/),
    },
    {
      name: 'U+0000 in a plain event id',
      value: JSON.stringify({ id: 'a\u0000b', type: 'account.credited', data: data('a') }),
      outcome: ingest(
        'invalid_envelope',
        /plain JSON event: attribute "id" contains the control character U\+0000/,
      ),
    },
    {
      name: 'a line break in a binary ce_id',
      value: JSON.stringify(data('a')),
      headers: binary({ ce_id: 'a\nb' }),
      outcome: ingest('invalid_envelope', /attribute "id" contains the control character U\+000A/),
    },
    {
      name: 'an id of 1,001 characters',
      value: ce({ id: 'i'.repeat(1001), data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /id is 1001 characters; the limit is 1000/),
    },
    {
      name: 'a 900 KB id',
      value: ce({ id: 'i'.repeat(900_000), data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /id is 900000 characters; the limit is 1000/),
    },
    {
      name: 'a numeric id',
      value: ce({ id: 42, data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /attribute "id" must be a string, got number/),
    },
    {
      name: 'an object type',
      value: ce({ type: { name: 'account.credited' }, data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /attribute "type" must be a string, got object/),
    },
    {
      name: 'an array source',
      value: ce({ source: [source], data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /attribute "source" must be a string, got array/),
    },
    {
      name: 'a numeric specversion',
      value: ce({ specversion: 1, data: data('a') }),
      headers: structured,
      outcome: ingest('invalid_envelope', /"specversion" must be a string, got number/),
    },
    {
      name: 'a plain event with a numeric type',
      value: JSON.stringify({ id: `p-${tag}`, type: 7, data: data('a') }),
      outcome: ingest('invalid_envelope', /plain JSON event: attribute "type" must be a string, got number/),
    },
    {
      name: 'binary mode: ce_id twice with different values',
      value: JSON.stringify(data('a')),
      headers: binary({ ce_id: [`twice-${tag}-1`, `twice-${tag}-2`] }),
      outcome: ingest('invalid_envelope', /header "ce_id" comes twice with different values/),
    },
    {
      name: 'binary mode: ce_id and CE_ID',
      value: JSON.stringify(data('a')),
      headers: binary({ CE_ID: `upper-${tag}` }),
      outcome: ingest('invalid_envelope', /extension attribute name "ID" is not allowed/),
    },
    {
      name: 'binary mode: a ce_datacontenttype header contradicting content-type',
      value: JSON.stringify(data('a')),
      headers: binary({ 'content-type': 'application/json', ce_datacontenttype: 'text/plain' }),
      outcome: ingest('invalid_envelope', /header "ce_datacontenttype" is not allowed/),
    },
    {
      name: 'binary mode: content-type application/json, value not JSON',
      value: 'amount=100',
      headers: binary({ 'content-type': 'application/json' }),
      outcome: ingest(
        'invalid_envelope',
        /value is not valid JSON although content-type is "application\/json"/,
      ),
    },
    {
      name: 'binary headers with a structured content-type over a value that is no CloudEvent',
      value: JSON.stringify(data('a')),
      headers: binary({ 'content-type': 'application/cloudevents+json' }),
      outcome: ingest(
        'invalid_envelope',
        /structured-mode CloudEvent: missing required attribute "specversion"/,
      ),
    },
    {
      name: 'content-type twice with different values',
      value: ce({ data: data('a') }),
      headers: { 'content-type': ['application/cloudevents+json', 'text/plain'] },
      outcome: ingest('invalid_envelope', /header "content-type" comes twice with different values/),
    },
    {
      name: 'a value over IDEM_MAX_EVENT_BYTES (1,000,000)',
      value: ce({ data: { ...data('a'), note: 'x'.repeat(1_000_100) } }),
      headers: structured,
      outcome: ingest('too_large', /the limit is 1000000 bytes/),
    },
  ];
  out.push(valid(A, 'a'));
  for (const r of onA) out.push({ ...r, key: A }, valid(A, 'a'));

  // --- Records whose key is the hostile part. ---
  out.push({
    name: 'a Kafka key of 2,000 bytes',
    key: 'k'.repeat(2000),
    value: ce({ data: data('a') }),
    headers: structured,
    outcome: ingest(
      'invalid_envelope',
      /the ordering key \(the Kafka key\) is 2000 bytes; the limit is 1000 bytes/,
    ),
  });
  out.push({
    name: 'a 900 KB subject as the ordering key (no Kafka key)',
    key: null,
    value: ce({ subject: 's'.repeat(900_000), data: data('a') }),
    headers: structured,
    outcome: ingest('invalid_envelope', /the ordering key \(the subject\) is 900000 bytes/),
  });

  // --- Valid however odd: applied once, safely. ---
  const C = `c-${tag}`;
  const odd = (name: string, attrs: Record<string, unknown>, dedupKey?: RegExp): CorpusRecord => ({
    name,
    key: C,
    value: ce({ data: data('c'), ...attrs }),
    headers: structured,
    outcome: { kind: 'applied', account: account('c'), amount: 100, ...(dedupKey ? { dedupKey } : {}) },
  });
  const readable = (id: string) =>
    new RegExp(`^event:${source}:${id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`);
  const hashed = /^event-sha256:[0-9a-f]{64}$/;
  out.push(valid(C, 'c'));
  for (const r of [
    odd('":" and "/" in the id', { id: `order:42/line:7-${tag}` }, readable(`order:42/line:7-${tag}`)),
    odd('a path-like id', { id: `../../etc/passwd-${tag}` }, readable(`../../etc/passwd-${tag}`)),
    odd('spaces and % in the id', { id: `a b%2F${tag}` }, hashed),
    odd('an id of exactly 1,000 characters', { id: `${tag}-`.padEnd(1000, 'i') }, hashed),
    odd('a URI source with ":"', { source: `urn:hostile:${tag}`, id: `x-${tag}` }, hashed),
    odd('a 900 KB string value in data', { data: { ...data('c'), note: 'n'.repeat(900_000) } }),
    odd('data nested 500 deep beside the ledger fields', {
      data: { ...data('c'), tree: JSON.parse(nested(500)) },
    }),
  ])
    out.push(r, valid(C, 'c'));
  // A key that is not UTF-8, a key with U+0000 (a big-endian integer), a header that is not UTF-8.
  const notUtf8 = Buffer.from([0xff, 0xfe, 0x01, n % 256]);
  const intKey = Buffer.from([0, 0, 0, 42]);
  out.push(
    valid(notUtf8, 'd', 'a key that is not UTF-8'),
    valid(notUtf8, 'd', 'a key that is not UTF-8'),
    valid(intKey, 'e', 'a key holding U+0000'),
    valid(intKey, 'e', 'a key holding U+0000'),
    {
      ...valid(C, 'c', 'a header that is not UTF-8'),
      headers: { ...structured, 'x-trace': Buffer.from([0xff]) },
    },
  );

  // --- Refused by the ledger's handler: dead-lettered, its key parked until skipped. Each on its
  // own key, between two valid events; the second waits parked behind it. ---
  /** `payload` is the event's data, or its JSON text when a string starting with "{". */
  const refused = (
    name: string,
    key: Buffer | string,
    payload: unknown,
    reason: DlqReason,
    error: RegExp,
    type = 'account.credited',
  ) => {
    const acct = `h${++n}`;
    const text = typeof payload === 'string' && payload.startsWith('{') ? payload : JSON.stringify(payload);
    out.push(
      valid(key, acct),
      {
        name,
        key,
        value: ce({ type, data: '<data>' }).replace('"<data>"', text),
        headers: structured,
        outcome: { kind: 'handler', reason, error },
      },
      valid(key, acct, 'valid, parked behind its key'),
    );
  };
  const amount = (value: unknown) => ({ account: account('h'), amount: value });
  const tooSmall = /Too small: expected number to be >0/;
  refused('a negative amount', `h-neg-${tag}`, amount(-100), 'invalid_payload', tooSmall);
  refused(
    'a fractional amount',
    `h-frac-${tag}`,
    amount(1.5),
    'invalid_payload',
    /expected int, received number/,
  );
  refused('an amount of 0', `h-zero-${tag}`, amount(0), 'invalid_payload', tooSmall);
  refused(
    'a string amount',
    `h-str-${tag}`,
    amount('100'),
    'invalid_payload',
    /expected number, received string/,
  );
  refused(
    'a "NaN" amount',
    `h-nan-${tag}`,
    amount('NaN'),
    'invalid_payload',
    /expected number, received string/,
  );
  refused(
    'an amount that JSON reads as Infinity (1e400)',
    `h-inf-${tag}`,
    `{"account":"${account('h')}","amount":1e400}`,
    'invalid_payload',
    /expected number, received Infinity/,
  );
  refused('an amount past 2^53', `h-big-${tag}`, amount(2 ** 53 + 2), 'invalid_payload', /Too big/);
  refused('no data', `h-nodata-${tag}`, null, 'invalid_payload', /expected object, received null/);
  refused(
    'an account holding U+0000',
    `h-nul-${tag}`,
    { account: 'a\u0000b', amount: 100 },
    'invalid_payload',
    /control character/,
  );
  refused(
    'an unknown event type',
    `h-type-${tag}`,
    amount(100),
    'unknown_type',
    /no handler is registered for event type "account.closed"/,
    'account.closed',
  );
  refused(
    'a refusal on a key holding U+0000',
    Buffer.from([0, 0, 0, 7]),
    amount(-1),
    'invalid_payload',
    tooSmall,
  );

  // A credit that would take a balance past 2^53 - 1 cents, where JavaScript numbers (and the
  // balance the ledger emits) stop being exact: refused by the ledger, between a credit that
  // brings the balance near the bound and a debit.
  const big = `h-balance-${tag}`;
  const event = (type: string, amt: number) =>
    ce({ type, data: { account: account('hbalance'), amount: amt } });
  out.push(
    {
      name: 'a credit to just under 2^53 - 1 cents',
      key: big,
      value: event('account.credited', Number.MAX_SAFE_INTEGER - 50),
      headers: structured,
      outcome: { kind: 'applied', account: account('hbalance'), amount: Number.MAX_SAFE_INTEGER - 50 },
    },
    {
      name: 'a credit that takes the balance past 2^53 - 1 cents',
      key: big,
      value: event('account.credited', 100),
      headers: structured,
      outcome: { kind: 'handler', reason: 'handler_failed', error: /beyond the 2\^53 - 1 cents/ },
    },
    {
      name: 'a debit, parked behind its key',
      key: big,
      value: event('account.debited', 100),
      headers: structured,
      outcome: { kind: 'applied', account: account('hbalance'), amount: -100 },
    },
  );
  return out;
}
