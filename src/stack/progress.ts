/**
 * Progress for long steps of `idem stack up` (building the Temporal CLI, resolving
 * Kafka's jars): on a terminal one line that updates every second, elsewhere
 * (CI logs) a line every 15 seconds, so a first run that takes minutes never
 * looks hung.
 */
export type Reporter = (line: string) => void;

export const stderrReporter: Reporter = (line) => process.stderr.write(line + '\n');

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export async function step<T>(
  label: string,
  fn: () => Promise<T>,
  report: Reporter = stderrReporter,
): Promise<T> {
  const started = Date.now();
  const tty = process.stderr.isTTY && report === stderrReporter;
  const timer = setInterval(
    () => {
      const line = `  … ${label} (${fmt(Date.now() - started)})`;
      if (tty) process.stderr.write(`\r${line}`);
      else report(line);
    },
    tty ? 1000 : 15_000,
  );
  timer.unref();
  try {
    const result = await fn();
    if (tty) process.stderr.write('\r\x1b[K');
    report(`  ✓ ${label} (${fmt(Date.now() - started)})`);
    return result;
  } catch (err) {
    if (tty) process.stderr.write('\r\x1b[K');
    report(`  ✗ ${label} (${fmt(Date.now() - started)})`);
    throw err;
  } finally {
    clearInterval(timer);
  }
}
