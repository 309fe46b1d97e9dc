/**
 * The demo's event stream: unique ledger events in all three wire forms, copies of
 * them (the same partition, another partition, after completion), malformed
 * records and an unknown event type, with the totals a correct consumer must
 * reach. Pure: it builds records, it does not send them.
 */
import type { Message } from 'kafkajs';

export const ACCOUNTS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

export interface LedgerEvent {
  id: string;
  type: 'account.credited' | 'account.debited';
  account: string;
  amount: number;
  form: 'structured' | 'binary' | 'plain';
}

export interface Scenario {
  source: string;
  accounts: string[];
  events: LedgerEvent[];
  /** Expected balance of each account after every event applied once. */
  expected: Record<string, number>;
  unknownTypeIds: string[];
}

/** Deterministic pseudo-random numbers, so a run is reproducible from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

export function buildScenario(runId: string, count: number, seed = 42): Scenario {
  const random = rng(seed);
  const source = `demo-${runId}`;
  const accounts = ACCOUNTS.map((a) => `${runId}-${a}`);
  const expected: Record<string, number> = Object.fromEntries(accounts.map((a) => [a, 0]));
  const events: LedgerEvent[] = [];
  for (let i = 0; i < count; i++) {
    const account = accounts[i % accounts.length] as string;
    const type = random() < 0.75 ? 'account.credited' : 'account.debited';
    const amount = 100 + Math.floor(random() * 9900);
    const r = random();
    const form = r < 0.6 ? 'structured' : r < 0.85 ? 'binary' : 'plain';
    events.push({ id: `${runId}-${String(i).padStart(5, '0')}`, type, account, amount, form });
    expected[account] = (expected[account] ?? 0) + (type === 'account.credited' ? amount : -amount);
  }
  return { source, accounts, events, expected, unknownTypeIds: [`${runId}-close-1`, `${runId}-close-2`] };
}

/** The Kafka record of a ledger event in its wire form; the key is the account (ordering). */
export function toRecord(source: string, e: LedgerEvent, partition?: number): Message {
  const data = { account: e.account, amount: e.amount };
  const base = partition === undefined ? {} : { partition };
  switch (e.form) {
    case 'structured':
      return {
        ...base,
        key: e.account,
        value: JSON.stringify({
          specversion: '1.0',
          id: e.id,
          source,
          type: e.type,
          subject: e.account,
          data,
        }),
        headers: { 'content-type': 'application/cloudevents+json' },
      };
    case 'binary':
      return {
        ...base,
        key: e.account,
        value: JSON.stringify(data),
        headers: {
          ce_specversion: '1.0',
          ce_id: e.id,
          ce_source: source,
          ce_type: e.type,
          'content-type': 'application/json',
        },
      };
    case 'plain':
      // Plain JSON: `source` is explicit here, else it would default to the topic name.
      return { ...base, key: e.account, value: JSON.stringify({ id: e.id, source, type: e.type, data }) };
  }
}

/** Records no consumer may apply: each must reach the dead-letter topic with this reason. */
export function malformedRecords(
  source: string,
  maxEventBytes: number,
): { reason: string; message: Message }[] {
  return [
    { reason: 'invalid_envelope', message: { key: 'bad', value: 'this is not JSON' } },
    {
      reason: 'invalid_envelope',
      message: {
        key: 'bad',
        value: JSON.stringify({ specversion: '1.0', source, type: 'account.credited' }),
      },
    },
    {
      reason: 'invalid_envelope',
      message: {
        key: 'bad',
        value: JSON.stringify({ specversion: '0.3', id: 'x', source, type: 'account.credited' }),
      },
    },
    {
      reason: 'invalid_utf8',
      message: { key: 'bad', value: Buffer.from([0x7b, 0x22, 0x69, 0x64, 0xc3, 0x28, 0x7d]) },
    },
    {
      reason: 'too_large',
      message: {
        key: 'bad',
        value: JSON.stringify({
          id: 'huge',
          source,
          type: 'account.credited',
          pad: 'x'.repeat(maxEventBytes),
        }),
      },
    },
  ];
}

/**
 * An event no handler knows, so it is dead-lettered. Each has a key of its own: with key
 * parking, a dead-lettered event holds its key's later events until it is redriven or skipped,
 * so two of them on one key would show one dead-lettered and one parked (test/integration/
 * key-parking.test.ts shows parking).
 */
export function unknownTypeRecord(source: string, id: string, account: string): Message {
  return {
    key: `${account}:${id}`,
    value: JSON.stringify({ specversion: '1.0', id, source, type: 'account.closed', data: { account } }),
    headers: { 'content-type': 'application/cloudevents+json' },
  };
}
