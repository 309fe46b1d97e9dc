/**
 * Waiting for a server of the local stack to become ready, on a slow or busy
 * machine too. A fixed short timeout fails a first start that is merely slow
 * (Temporal creating its SQLite schema on a loaded 2-core machine took over a
 * minute), so the wait follows progress instead: it goes on while the process
 * is alive and working (its CPU time or the files it writes keep changing),
 * gives up when the process exits or shows no progress for `stallMs`, and in
 * any case after the generous `ceilingMs` (IDEM_STACK_TIMEOUT).
 */
import fs from 'node:fs';
import { isAlive, StackError } from './proc';
import { procStat } from './proc-stat';

export interface ReadyLimits {
  /** Longest wait for one server, whatever its progress. */
  ceilingMs: number;
  /** Longest time without any sign of progress. */
  stallMs: number;
}

export interface ReadyOptions {
  limits: ReadyLimits;
  /** The server's process (or how to find it once it exists); its exit ends the wait and its CPU
   * time counts as progress. */
  pid?: number | (() => number | undefined);
  /** Its log: named in the error with its last lines, and its growth counts as progress. */
  logFile?: string;
  /** Other files whose growth counts as progress (a database file being created). */
  watch?: string[];
  /** @default 250 */
  intervalMs?: number;
}

export async function waitUntilReady(
  what: string,
  check: () => Promise<boolean>,
  o: ReadyOptions,
): Promise<void> {
  const started = Date.now();
  const files = [...(o.logFile ? [o.logFile] : []), ...(o.watch ?? [])];
  const pidOf = () => (typeof o.pid === 'function' ? o.pid() : o.pid);
  let signature = progressSignature(pidOf(), files);
  let lastProgress = started;
  let lastFailure = '';
  for (;;) {
    const ready = await check().catch((e: unknown) => {
      lastFailure = e instanceof Error ? e.message || e.name : String(e);
      return false;
    });
    if (ready) return;
    const pid = pidOf();
    if (pid !== undefined && !isRunning(pid)) {
      throw new StackError(`${what} exited during start-up.${logTail(o.logFile)}`);
    }
    const now = Date.now();
    const next = progressSignature(pid, files);
    if (next !== signature) {
      signature = next;
      lastProgress = now;
    }
    if (now - lastProgress > o.limits.stallMs) {
      throw new StackError(
        `${what} is not ready and showed no progress for ${seconds(o.limits.stallMs)} ` +
          `(alive, but no CPU time used and no log written).${failure(lastFailure)}${logTail(o.logFile)}`,
      );
    }
    if (now - started > o.limits.ceilingMs) {
      throw new StackError(
        `${what} did not become ready within ${seconds(o.limits.ceilingMs)} ` +
          `(raise IDEM_STACK_TIMEOUT on a very slow machine).${failure(lastFailure)}${logTail(o.logFile)}`,
      );
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
  }
}

/** The last check's error: a server that logs it is ready while the check still fails (refused,
 * timed out, rejected the client) is told apart by it. */
function failure(message: string): string {
  return message ? `\n  The last check failed with: ${message}` : '';
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** Alive and not a zombie (exited, not yet reaped). */
function isRunning(pid: number): boolean {
  return isAlive(pid) && procStat(pid)?.state !== 'Z';
}

/** Changes whenever the process used CPU time or a watched file changed size or time. */
export function progressSignature(pid: number | undefined, files: string[]): string {
  const cpu = pid === undefined ? '' : String(procStat(pid)?.totalTicks ?? '');
  const sizes = files.map((f) => {
    try {
      const st = fs.statSync(f);
      return `${st.size}@${st.mtimeMs}`;
    } catch {
      return '-';
    }
  });
  return [cpu, ...sizes].join('|');
}

/** The last lines of a log, for an error message. */
export function logTail(logFile: string | undefined, lines = 20): string {
  if (!logFile) return '';
  let text: string;
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 16_384);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return `\n  Its log ${logFile} could not be read.`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines);
  if (tail.length === 0 || tail[0] === '') return `\n  Its log ${logFile} is empty.`;
  return `\n  Last lines of ${logFile}:\n${tail.map((l) => `    ${l}`).join('\n')}`;
}
