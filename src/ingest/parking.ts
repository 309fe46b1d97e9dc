/**
 * Key parking: with per-key ordering, an event that is dead-lettered holds its key's later events
 * instead of letting them overtake it. They are *parked*: recorded in PostgreSQL with the
 * workflow input they will be started with, and their offsets complete, so a long-parked key
 * holds neither its partition's commits, nor its window, nor any other key.
 *
 * A parked key is released when an operator redrives the dead-lettered event (the store then
 * records it `applied`) or skips it (`idem dlq skip`). The consumer that owns the key's
 * partition notices (one query per second) and starts the parked events one at a time in offset
 * order, each once the previous settled, inside the partition's key sequencer, so events of the
 * key read meanwhile queue behind the release. A released event that is dead-lettered in its
 * turn parks the key again, behind itself.
 *
 * This interface is what the ingester needs from the store; {@link pgParkingStore} is the real
 * one, and the ingester's unit tests use a fake.
 */
import type { Queryable } from '../store/sql/queryable';
import {
  countParked,
  deleteParkedEvent,
  nextParkedEvent,
  parkEvent,
  parkKey,
  parkedKeysOf,
  releasableKeys,
  reparkKey,
  unparkKey,
  type ParkedEventRow,
  type ParkedKeyRef,
} from '../store/sql/key-parking';

export type { ParkedEventRow, ParkedKeyRef };

export interface ParkingStore {
  parkedKeysOf(topic: string, partition: number): Promise<Set<string>>;
  parkKey(k: ParkedKeyRef & { partition: number; blockedBy: string }): Promise<boolean>;
  parkEvent(e: ParkedEventRow): Promise<boolean>;
  releasableKeys(): Promise<(ParkedKeyRef & { partition: number })[]>;
  nextParkedEvent(k: ParkedKeyRef): Promise<ParkedEventRow | undefined>;
  deleteParkedEvent(eventId: string): Promise<void>;
  reparkKey(k: ParkedKeyRef & { blockedBy: string }): Promise<void>;
  unparkKey(k: ParkedKeyRef): Promise<boolean>;
  countParked(): Promise<{ keys: number; events: number }>;
}

export function pgParkingStore(q: Queryable): ParkingStore {
  return {
    parkedKeysOf: (topic, partition) => parkedKeysOf(q, topic, partition),
    parkKey: (k) => parkKey(q, k),
    parkEvent: (e) => parkEvent(q, e),
    releasableKeys: () => releasableKeys(q),
    nextParkedEvent: (k) => nextParkedEvent(q, k),
    deleteParkedEvent: (id) => deleteParkedEvent(q, id),
    reparkKey: (k) => reparkKey(q, k),
    unparkKey: (k) => unparkKey(q, k),
    countParked: () => countParked(q),
  };
}
