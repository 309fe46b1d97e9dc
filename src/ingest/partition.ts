/**
 * What the ingester keeps for one assigned partition in one consumer-group
 * generation. A rebalance abandons it and the next generation starts a new one;
 * work still running for the old one completes into it, harmlessly.
 */
import { KeySequencer } from './sequencer';
import { PartitionWatermark } from './watermark';

export interface PartitionState {
  topic: string;
  partition: number;
  watermark: PartitionWatermark;
  sequencer: KeySequencer;
  /** The generation is over (rebalance, crash, shutdown): stop retrying its hand-offs. */
  abandoned: boolean;
  /** Wakes a batch loop waiting for room in the window. */
  roomWaiters: (() => void)[];
}

export function newPartitionState(
  topic: string,
  partition: number,
  opts: { maxInFlight: number; ordering: boolean },
): PartitionState {
  return {
    topic,
    partition,
    watermark: new PartitionWatermark({ maxInFlight: opts.maxInFlight }),
    sequencer: new KeySequencer({ ordered: opts.ordering }),
    abandoned: false,
    roomWaiters: [],
  };
}

/** Ends a generation's state: queued tasks are dropped and waiting batch loops woken. */
export function abandonPartition(s: PartitionState): void {
  s.abandoned = true;
  s.sequencer.clear();
  s.roomWaiters.splice(0).forEach((wake) => wake());
}
