/**
 * A background job that runs every `intervalMs` until stopped (the lag sampler, the stuck-event
 * scanner, the terminated-runs reconciler): one run at a time, the next scheduled when the last
 * ends, a failure handed to `onError` and tried again at the next interval, and `stop()` waiting
 * for a run in progress. Its timer never keeps the process alive.
 */
export interface Periodic {
  stop(): Promise<void>;
}

export function runPeriodically(
  run: () => Promise<unknown>,
  o: { intervalMs: number; onError: (err: unknown) => void | Promise<void>; firstRunAtOnce?: boolean },
): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(tick, o.intervalMs);
    timer.unref();
  };
  const tick = () => {
    running = run().catch(o.onError).finally(schedule);
  };
  if (o.firstRunAtOnce ?? true) tick();
  else schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
