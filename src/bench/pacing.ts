/**
 * The schedule of an open-loop producer: record i is due i / rate seconds after the
 * start, whatever happened to the records before it, so a slow consumer shows up as
 * latency instead of slowing the offered load down (no coordinated omission).
 */

function check(rate: number, count: number): void {
  if (!(rate > 0) || !Number.isFinite(rate))
    throw new RangeError(`rate must be a positive number, got ${rate}`);
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be a whole number ≥ 0, got ${count}`);
}

/** Milliseconds after the start at which record `i` is due, at `rate` records per second. */
export function sendOffsetMs(i: number, rate: number): number {
  return (i * 1000) / rate;
}

/** How many of `count` records are due `elapsedMs` after the start (record 0 is due at once). */
export function dueCount(elapsedMs: number, rate: number, count: number): number {
  check(rate, count);
  if (elapsedMs < 0 || count === 0) return 0;
  // Start from the arithmetic estimate, then settle rounding at the boundary with sendOffsetMs itself,
  // so a record is due exactly when its own offset has passed.
  let k = Math.min(count - 1, Math.floor((elapsedMs * rate) / 1000));
  while (k + 1 < count && sendOffsetMs(k + 1, rate) <= elapsedMs) k++;
  while (k >= 0 && sendOffsetMs(k, rate) > elapsedMs) k--;
  return k + 1;
}

/** Every record's due time in milliseconds after the start. */
export function sendSchedule(count: number, rate: number): number[] {
  check(rate, count);
  return Array.from({ length: count }, (_, i) => sendOffsetMs(i, rate));
}
