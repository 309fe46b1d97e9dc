/**
 * The commit watermark of one Kafka partition: offsets move only after a durable
 * hand-off, so a consumer that crashes or loses the partition never skips a record.
 *
 * The ingester tracks every message it reads, in offset order, and completes
 * it once the message was durably handed off: its workflow started, a
 * duplicate confirmed, or the event dead-lettered; with per-key ordering, a
 * keyed event only once it is settled (effect committed, dead-lettered or
 * parked), so a restart or a rebalance reads it again and its key's later
 * events wait for it again. Hand-offs finish in any order, but Kafka stores
 * one offset per partition, so the ingester may only commit up to the oldest
 * message still in flight. Everything tracked and not yet released by that low
 * watermark is the in-flight window. Its messages not handed off yet are bounded
 * in number and in bytes; those handed off and waiting behind an older one only
 * by a larger bound on the whole window (an offset each: a copy of an applied
 * event costs nothing more, and must not stop the partition while one event
 * ahead of it is slow). When a bound is reached the ingester pauses fetching the
 * partition (backpressure).
 *
 * Offsets are Kafka's signed 64-bit offsets, which kafkajs hands over as
 * decimal strings; they pass 2^53, so they are kept as bigint, never number.
 *
 * One instance lives for one assignment of the partition. On a rebalance the
 * ingester drops it and creates a new one: completions still arriving from
 * the old generation must go to the old instance (capture the instance when
 * tracking, never look it up by partition when completing), where they are
 * harmless.
 */

const MAX_OFFSET = (1n << 63n) - 1n;

export interface PartitionWatermarkOptions {
  /**
   * Messages tracked and not handed off yet at which {@link PartitionWatermark.isFull} turns
   * true and the ingester pauses fetching the partition.
   * @default 1000
   */
  maxInFlight?: number;
  /**
   * Messages in the window, handed off or not, at which {@link PartitionWatermark.isFull} also
   * turns true: how far reading may run ahead of the oldest message still in flight.
   * @default 2 × maxInFlight (IDEM_MAX_WINDOW's default)
   */
  maxWindow?: number;
  /**
   * Bytes of tracked messages not yet completed at which {@link PartitionWatermark.isFull}
   * also turns true: a completed message's value is no longer held.
   * @default Infinity
   */
  maxInFlightBytes?: number;
}

export class PartitionWatermark {
  readonly maxInFlight: number;
  readonly maxWindow: number;
  readonly maxInFlightBytes: number;
  /** Tracked messages not completed yet. */
  private open = 0;

  /**
   * Tracked offsets not yet released, in increasing order, starting at
   * `head`. Released offsets are skipped by moving `head` and cut off in
   * batches (see release), so shifting stays amortised O(1).
   */
  private queue: bigint[] = [];
  private head = 0;
  /** Exactly the offsets in queue[head..], mapped to "completed?". */
  private readonly window = new Map<bigint, boolean>();
  private highestTracked: bigint | undefined;
  /** Whether any tracked offset has been released yet; see position(). */
  private released = false;
  private committed: bigint | undefined;
  /** Sizes of tracked messages not completed yet, and their sum. */
  private readonly sizes = new Map<bigint, number>();
  private bytes = 0;
  /** Kafka timestamps (ms) of the offsets in the window, for the age of the oldest. */
  private readonly timestamps = new Map<bigint, number>();

  constructor(opts: PartitionWatermarkOptions = {}) {
    const maxInFlight = opts.maxInFlight ?? 1000;
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer, got ${maxInFlight}`);
    }
    this.maxInFlight = maxInFlight;
    const maxWindow = opts.maxWindow ?? 2 * maxInFlight;
    if (!Number.isSafeInteger(maxWindow) || maxWindow < maxInFlight) {
      throw new RangeError(`maxWindow must be an integer of at least maxInFlight, got ${maxWindow}`);
    }
    this.maxWindow = maxWindow;
    const maxBytes = opts.maxInFlightBytes ?? Infinity;
    if (!(maxBytes >= 1)) throw new RangeError(`maxInFlightBytes must be at least 1, got ${maxBytes}`);
    this.maxInFlightBytes = maxBytes;
  }

  /**
   * A message read from Kafka enters the pipeline. Offsets increase but may
   * skip values (compacted records, transaction markers).
   *
   * Returns false, and changes nothing, for an offset at or below one tracked
   * before: kafkajs fetches a partition again from its fetch position after a
   * batch was left early (pause, shutdown, a failed fetch), so a message seen in
   * this generation may come back. It is in flight or done already; handing it
   * off twice would be harmless but wasted, and tracking it again would let the
   * window hold one offset twice.
   */
  track(offset: string, bytes = 0, timestampMs?: number): boolean {
    const o = parseOffset(offset);
    if (this.highestTracked !== undefined && o <= this.highestTracked) return false;
    this.highestTracked = o;
    this.queue.push(o);
    this.window.set(o, false);
    this.open++;
    if (timestampMs !== undefined && timestampMs > 0) this.timestamps.set(o, timestampMs);
    if (bytes > 0) {
      this.sizes.set(o, bytes);
      this.bytes += bytes;
    }
    return true;
  }

  /**
   * The message at `offset` was durably handed off. Returns false, and
   * changes nothing, if the offset is not in flight here: never tracked,
   * already completed, or already released. Such stale completions are
   * expected after a rebalance or a retried hand-off.
   */
  complete(offset: string): boolean {
    const o = parseOffset(offset);
    if (this.window.get(o) !== false) return false;
    this.window.set(o, true);
    this.open--;
    const size = this.sizes.get(o);
    if (size !== undefined) {
      this.sizes.delete(o);
      this.bytes -= size;
    }
    this.release();
    return true;
  }

  /**
   * The offset to commit, in Kafka's convention (the next offset to read),
   * or undefined when it has not moved past the last {@link markCommitted}.
   *
   * It is H + 1 for the highest H such that every tracked offset <= H is
   * complete: the oldest offset still in flight, or the highest tracked + 1
   * when none is. Offsets that were never tracked (gaps) do not hold it
   * back: Kafka never delivered them, so there is nothing to hand off.
   */
  committable(): string | undefined {
    const position = this.position();
    if (position === undefined) return undefined;
    if (this.committed !== undefined && position <= this.committed) return undefined;
    return position.toString();
  }

  /**
   * The commit of `offset` (a value {@link committable} returned) succeeded.
   * Commits may be acknowledged out of order, so an older one never moves
   * the mark back.
   */
  markCommitted(offset: string): void {
    const o = parseOffset(offset);
    if (this.committed === undefined || o > this.committed) this.committed = o;
  }

  /**
   * Messages tracked and not yet released by the low watermark: those still
   * being handed off plus completed ones waiting behind an older one.
   */
  inFlight(): number {
    return this.window.size;
  }

  /**
   * The Kafka timestamp (ms) of the oldest message in the window, which holds the partition's
   * commits (`idem_oldest_unprocessed_age_seconds`); undefined when the window is empty or the
   * message was tracked without one.
   */
  oldestTimestamp(): number | undefined {
    const o = this.queue[this.head];
    return o === undefined ? undefined : this.timestamps.get(o);
  }

  /** Tracked messages not handed off yet. */
  openCount(): number {
    return this.open;
  }

  /** Bytes of the tracked messages not completed yet. */
  inFlightBytes(): number {
    return this.bytes;
  }

  /**
   * Whether the ingester should pause fetching this partition: maxInFlight messages not
   * handed off yet, or maxInFlightBytes of them, or maxWindow messages in the window. The
   * ingester checks before tracking each message, so the window exceeds a bound by at most one
   * message (a single message larger than the byte bound is let in when the window holds
   * nothing else, or the partition would never move).
   */
  isFull(): boolean {
    return (
      this.open >= this.maxInFlight ||
      this.inFlight() >= this.maxWindow ||
      this.bytes >= this.maxInFlightBytes
    );
  }

  /**
   * How many more messages {@link track} may take before {@link isFull} turns true by count
   * (the byte bound, unknown before a message is read, may stop it sooner).
   */
  room(): number {
    return Math.max(0, Math.min(this.maxInFlight - this.open, this.maxWindow - this.inFlight()));
  }

  /**
   * Whether a paused partition may be resumed: a quarter of each bound is free (messages not
   * handed off, the window, bytes), so a resume brings a batch's worth of records, not one.
   */
  hasRoom(): boolean {
    return (
      this.open <= this.maxInFlight - Math.ceil(this.maxInFlight / 4) &&
      this.inFlight() <= this.maxWindow - Math.ceil(this.maxWindow / 4) &&
      this.bytes <= (this.maxInFlightBytes * 3) / 4
    );
  }

  /** Nothing in flight: every tracked message was handed off. */
  isIdle(): boolean {
    return this.inFlight() === 0;
  }

  /**
   * Until the first tracked message completes there is nothing new to
   * commit: the group's committed offset is at or before where the fetch
   * started, so the position is undefined rather than the first tracked
   * offset (which would only re-commit where the consumer already is).
   */
  private position(): bigint | undefined {
    if (!this.released || this.highestTracked === undefined) return undefined;
    return this.queue[this.head] ?? this.highestTracked + 1n;
  }

  /** Drops completed offsets at the front of the window. */
  private release(): void {
    for (let o = this.queue[this.head]; o !== undefined && this.window.get(o) === true;) {
      this.window.delete(o);
      this.timestamps.delete(o);
      this.released = true;
      o = this.queue[++this.head];
    }
    // Memory stays bounded by the window: cut the released prefix off once
    // it is at least as long as what remains (and not tiny), so each offset
    // is copied O(1) times on average.
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

/** A message offset as kafkajs gives it: a non-negative decimal string. */
function parseOffset(offset: string): bigint {
  // BigInt() alone would also accept '', ' 1', '0x1' and '-1'.
  if (!/^\d+$/.test(offset)) throw new RangeError(`invalid Kafka offset ${JSON.stringify(offset)}`);
  const o = BigInt(offset);
  if (o > MAX_OFFSET) throw new RangeError(`Kafka offset ${offset} exceeds 2^63 - 1`);
  return o;
}
