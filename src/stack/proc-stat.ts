/** A process's state, parent, CPU ticks and start time from /proc/<pid>/stat (Linux only; undefined elsewhere). */
import fs from 'node:fs';

/** USER_HZ on Linux: the unit of the tick counts below. */
export const TICKS_PER_SECOND = 100;

export interface ProcStat {
  /** R, S, D, Z (zombie), ... */
  state: string;
  ppid: number;
  /** User + system ticks of the process itself. */
  ownTicks: number;
  /** The same plus its reaped children's. */
  totalTicks: number;
  /** When it started, in ticks since boot: with the pid, names one process even after the pid is reused. */
  startTicks: number;
}

export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (i: number) => Number(fields[i] ?? 0);
  const ownTicks = n(11) + n(12);
  return {
    state: fields[0] ?? '',
    ppid: n(1),
    ownTicks,
    totalTicks: ownTicks + n(13) + n(14),
    startTicks: n(19),
  };
}
