/**
 * CPU used by the local stack's servers during a scenario, per event: the per-event
 * costs a capacity model is built from (Temporal server CPU above all). Only for the
 * servers `idem stack up` started on this machine; configured remote servers are not
 * measured.
 */
import type { Config } from '../config';
import { kafkaPid } from '../stack/kafka';
import { layoutFor } from '../stack/layout';
import { postgresPid } from '../stack/postgres';
import { temporalPid } from '../stack/temporal';
import { treeCpuSeconds } from './process-usage';

function serverPids(config: Config): Record<string, number | undefined> {
  const layout = layoutFor(config.cacheDir);
  return { temporal: temporalPid(layout), kafka: kafkaPid(layout), postgres: postgresPid(layout) };
}

/** Starts measuring; the returned function gives each server's CPU milliseconds per event. */
export function measureServers(config: Config): (events: number) => Record<string, number> {
  const pids = Object.entries(serverPids(config)).filter((e): e is [string, number] => e[1] !== undefined);
  const before = Object.fromEntries(pids.map(([name, pid]) => [name, treeCpuSeconds(pid)]));
  return (events) => {
    const out: Record<string, number> = {};
    for (const [name, pid] of pids) {
      const start = before[name];
      const end = treeCpuSeconds(pid);
      if (start === undefined || end === undefined || events === 0) continue;
      out[`${name}CpuMsPerEvent`] = Math.round(((end - start) * 1000 * 100) / events) / 100;
    }
    return out;
  };
}
