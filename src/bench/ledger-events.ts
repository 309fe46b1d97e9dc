/**
 * The event stream of an idem scenario: ledger credits in structured CloudEvents,
 * keyed by account, with a share of duplicates (copies of earlier events, as a
 * redelivering producer or a replayed partition would send) and a payload padded
 * to a size. Pure and deterministic for a seed, so runs are comparable.
 */
import type { Message } from 'kafkajs';

export interface StreamSpec {
  /** Records to send, duplicates included. */
  events: number;
  /** Share of records that repeat an earlier event, 0 to <1. */
  duplicateShare: number;
  /** Distinct accounts (ordering keys). */
  keys: number;
  /** When > 0, every event goes to one of this many accounts (a few hot keys). */
  hotKeys: number;
  /** Approximate size of each record's value in bytes. */
  payloadBytes: number;
  /** The events' CloudEvents source: unique per run. */
  source: string;
  /** @default 1 */
  seed?: number;
}

export interface StreamEvent {
  /** CloudEvents id; duplicates repeat an earlier one. */
  id: string;
  account: string;
  duplicate: boolean;
}

/** A small, fast, seeded PRNG (mulberry32): the same spec gives the same stream. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Which event each record carries. Unique events come first in each stretch; a duplicate
 * always repeats an event sent earlier, so it is a redelivery, never a first delivery. */
export function planStream(spec: StreamSpec): StreamEvent[] {
  if (spec.duplicateShare < 0 || spec.duplicateShare >= 1)
    throw new RangeError('duplicateShare must be in [0, 1)');
  const rnd = random(spec.seed ?? 1);
  const accounts = spec.hotKeys > 0 ? spec.hotKeys : spec.keys;
  const out: StreamEvent[] = [];
  const sent: StreamEvent[] = [];
  const unique = Math.max(1, Math.round(spec.events * (1 - spec.duplicateShare)));
  let dupBudget = spec.events - unique;
  for (let i = 0; out.length < spec.events;) {
    // Spread duplicates evenly among the unique events still to come.
    const dupNow = sent.length > 0 && dupBudget > 0 && rnd() < dupBudget / (dupBudget + (unique - i));
    if (dupNow || i >= unique) {
      const original = sent[Math.floor(rnd() * sent.length)] as StreamEvent;
      out.push({ ...original, duplicate: true });
      dupBudget--;
    } else {
      const ev = { id: `e${i}`, account: `acct-${Math.floor(rnd() * accounts)}`, duplicate: false };
      out.push(ev);
      sent.push(ev);
      i++;
    }
  }
  return out;
}

/** The Kafka record of one event: structured CloudEvent, key = account. */
export function toMessage(ev: StreamEvent, spec: StreamSpec): Message {
  const base = {
    specversion: '1.0',
    id: ev.id,
    source: spec.source,
    type: 'account.credited',
    subject: ev.account,
    data: { account: ev.account, amount: 1, note: '' },
  };
  const pad = Math.max(0, spec.payloadBytes - Buffer.byteLength(JSON.stringify(base)));
  base.data.note = 'x'.repeat(pad);
  return {
    key: ev.account,
    value: JSON.stringify(base),
    headers: { 'content-type': 'application/cloudevents+json' },
  };
}
