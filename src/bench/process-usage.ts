/** CPU time and peak memory of another process, read from /proc (Linux). */
import fs from 'node:fs';
import { procStat, TICKS_PER_SECOND } from '../stack/proc-stat';

/** User + system CPU seconds the process has used so far, or undefined off Linux. */
export function cpuSeconds(pid: number): number | undefined {
  const stat = procStat(pid);
  return stat && stat.ownTicks / TICKS_PER_SECOND;
}

/** Peak resident set size in MiB (VmHWM), or undefined off Linux. */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process and its live children (PostgreSQL's backends are children of the postmaster). */
export function treeCpuSeconds(root: number): number | undefined {
  const own = cpuSeconds(root);
  if (own === undefined) return undefined;
  let total = own;
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid !== root && procStat(pid)?.ppid === root) total += cpuSeconds(pid) ?? 0;
  }
  return total;
}
