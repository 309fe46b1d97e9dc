/**
 * CPU used by the local stack's servers during a scenario, per event: the per-event
 * costs a capacity model is built from (Temporal server CPU above all). Only for the
 * servers `idem stack up` started on this machine; configured remote servers are not
 * measured.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { layoutFor } from '../stack/layout';
import { readPid } from '../stack/proc';
import { treeCpuSeconds } from './process-usage';

type Server = 'temporal' | 'kafka' | 'postgres';

function serverPids(config: Config): Partial<Record<Server, number>> {
  const layout = layoutFor(config.cacheDir);
  const out: Partial<Record<Server, number>> = {};
  const temporal = readPid(layout.runDir, 'temporal');
  const kafka = readPid(layout.runDir, 'kafka');
  if (temporal) out.temporal = temporal;
  if (kafka) out.kafka = kafka;
  try {
    const first = fs
      .readFileSync(path.join(layout.postgresDir, 'data', 'postmaster.pid'), 'utf8')
      .split('\n')[0];
    const pid = Number(first);
    if (Number.isInteger(pid) && pid > 0) out.postgres = pid;
  } catch {
    // not the stack's PostgreSQL
  }
  return out;
}

/** Starts measuring; the returned function gives each server's CPU milliseconds per event. */
export function measureServers(config: Config): (events: number) => Record<string, number> {
  const pids = serverPids(config);
  const before = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, treeCpuSeconds(pid as number)]),
  );
  return (events) => {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const start = before[name];
      const end = treeCpuSeconds(pid as number);
      if (start === undefined || end === undefined || events === 0) continue;
      out[`${name}CpuMsPerEvent`] = Math.round(((end - start) * 1000 * 100) / events) / 100;
    }
    return out;
  };
}
