/** Retry with capped exponential backoff and jitter until success or until told to stop. */
import { StoppedError } from './errors';

export { StoppedError };

export interface RetryOptions {
  /** True once the caller no longer wants the result (shutdown, rebalance). */
  stopped: () => boolean;
  onError?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Errors no retry can fix: thrown at once. */
  permanent?: (err: unknown) => boolean;
  initialMs?: number;
  maxMs?: number;
}

export async function retryUntilStopped<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const initial = opts.initialMs ?? 100;
  const max = opts.maxMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    if (opts.stopped()) throw new StoppedError('stopped before the operation succeeded');
    try {
      return await fn();
    } catch (err) {
      if (opts.permanent?.(err)) throw err;
      const delay = Math.min(max, initial * 2 ** Math.min(attempt - 1, 20)) * (0.5 + Math.random() / 2);
      opts.onError?.(err, attempt, delay);
      await sleepUnlessStopped(delay, opts.stopped);
    }
  }
}

async function sleepUnlessStopped(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !stopped())
    await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}
