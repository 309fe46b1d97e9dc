/**
 * What the ingester keeps for one assigned partition in one consumer-group
 * generation. A rebalance abandons it and the next generation starts a new one;
 * work still running for the old one completes into it, harmlessly.
 */
import type { KafkaMessage } from 'kafkajs';
import { KeySequencer } from './sequencer';
import { PartitionWatermark } from './watermark';

export interface PartitionState {
  topic: string;
  partition: number;
  watermark: PartitionWatermark;
  sequencer: KeySequencer;
  /** The generation is over (rebalance, crash, shutdown): stop retrying its hand-offs. */
  abandoned: boolean;
  /** Set while kafkajs fetching of this partition is paused for a full window: resumes it. */
  resume: (() => void) | undefined;
  /** The rest of the fetched batch the window had no room for, in offset order (kafkajs' fetch
   * position is already past it): taken from here as the window frees, and kafkajs resumed only
   * once it is empty, instead of fetching and decoding those records again. At most one batch
   * per paused partition. */
  backlog: KafkaMessage[] | undefined;
  /** The backlog is being fed to the window (one feed at a time per partition). */
  feeding: boolean;
  /** With key parking: the partition's parked keys, read from the store once per generation
   * and kept up to date as keys are parked and released by this process. */
  parked: Promise<Set<string>> | undefined;
  /** Parked keys this generation is releasing. */
  releasing: Set<string>;
}

export function newPartitionState(
  topic: string,
  partition: number,
  opts: { maxInFlight: number; maxWindow: number; maxInFlightBytes: number; ordering: boolean },
): PartitionState {
  return {
    topic,
    partition,
    watermark: new PartitionWatermark({
      maxInFlight: opts.maxInFlight,
      maxWindow: opts.maxWindow,
      maxInFlightBytes: opts.maxInFlightBytes,
    }),
    sequencer: new KeySequencer({ ordered: opts.ordering }),
    abandoned: false,
    resume: undefined,
    backlog: undefined,
    feeding: false,
    parked: undefined,
    releasing: new Set(),
  };
}

/** Ends a generation's state: queued tasks and the backlog are dropped and a paused partition
 * resumed (the next generation reads again from the committed offset, with an empty window). */
export function abandonPartition(s: PartitionState): void {
  s.abandoned = true;
  s.sequencer.clear();
  s.backlog = undefined;
  resumePartition(s);
}

/** Resumes fetching a partition paused for a full window; a no-op when it is not paused. */
export function resumePartition(s: PartitionState): void {
  const resume = s.resume;
  s.resume = undefined;
  resume?.();
}
