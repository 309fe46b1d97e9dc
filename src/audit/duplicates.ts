/**
 * What each duplicate offset is a copy of (`DuplicateCause`): its bytes against those of the
 * record that carries its event's outcome, when the audit read that record too. The audit keeps a
 * short fingerprint per outcome-carrying record and per duplicate, up to a bound; past it,
 * duplicates count as `not_read`.
 */
import crypto from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { flattenHeaders } from '../events/kafka-headers';
import { coordsKey, type Coords, type DuplicateCause } from './types';

export interface Fingerprint {
  /** Hash of key, value and headers (in name order). */
  content: string;
  timestamp: string;
}

export function fingerprint(m: Pick<KafkaMessage, 'key' | 'value' | 'headers' | 'timestamp'>): Fingerprint {
  const hash = crypto.createHash('sha256');
  const part = (b: Buffer | string | null | undefined) => {
    if (b === null || b === undefined) return hash.update('\u0000-');
    const bytes = typeof b === 'string' ? Buffer.from(b) : b;
    hash.update(`\u0000${bytes.length}:`);
    hash.update(bytes);
  };
  part(m.key);
  part(m.value);
  const headers = flattenHeaders(m.headers);
  for (const name of Object.keys(headers).sort()) {
    part(name);
    part(headers[name]);
  }
  return { content: hash.digest('hex').slice(0, 32), timestamp: m.timestamp };
}

export function causeOf(copy: Fingerprint, original: Fingerprint | undefined): DuplicateCause {
  if (!original) return 'not_read';
  if (copy.content !== original.content) return 'other_content';
  return copy.timestamp === original.timestamp ? 'producer_retry' : 'sent_again';
}

export class DuplicateCauses {
  private readonly originals = new Map<string, Fingerprint>();
  private readonly copies: { of: string; fp: Fingerprint }[] = [];
  private overflow = 0;

  constructor(private readonly bound = 500_000) {}

  /** A record that carries its event's outcome (applied, dead-lettered or parked at it). */
  original(at: Coords, fp: Fingerprint): void {
    if (this.originals.size < this.bound) this.originals.set(coordsKey(at), fp);
  }

  duplicate(of: Coords, fp: Fingerprint): void {
    if (this.copies.length < this.bound) this.copies.push({ of: coordsKey(of), fp });
    else this.overflow++;
  }

  /** Counts by cause, once every record is read. */
  causes(): Record<DuplicateCause, number> {
    const out: Record<DuplicateCause, number> = {
      producer_retry: 0,
      sent_again: 0,
      other_content: 0,
      not_read: this.overflow,
    };
    for (const c of this.copies) out[causeOf(c.fp, this.originals.get(c.of))]++;
    return out;
  }
}
