/** Long-lived server processes of the local stack: started detached (they outlive
 * the `idem stack up` command), tracked by pid files, stopped with SIGTERM. */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { StackError } from '../errors';
import { procStat } from './proc-stat';

export { StackError };

export function pidFile(runDir: string, name: string): string {
  return path.join(runDir, `${name}.pid`);
}

/**
 * The pid in a server's pid file while that server runs. The file holds the pid and the process's
 * start time; a pid file outlives its process (a killed server, a machine restored from a
 * snapshot) and the pid may by then belong to another process, which the start time tells apart.
 */
export function readPid(runDir: string, name: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(pidFile(runDir, name), 'utf8');
  } catch {
    return undefined;
  }
  const [pid, started] = text.trim().split(/\s+/).map(Number);
  if (!pid || !Number.isInteger(pid) || pid <= 0) return undefined;
  return isSameProcess(pid, started) ? pid : undefined;
}

/** Alive, and (where /proc tells) the process that started at `startTicks`. */
export function isSameProcess(pid: number, startTicks: number | undefined): boolean {
  if (!isAlive(pid)) return false;
  const stat = procStat(pid);
  if (stat === undefined || startTicks === undefined || Number.isNaN(startTicks)) return true;
  return stat.startTicks === startTicks;
}

/** Alive, and (where /proc tells) started with `arg` among its arguments: how a pid from a file
 * that is not ours (PostgreSQL's postmaster.pid) is checked against pid reuse. */
export function isProcessWithArg(pid: number, arg: string): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !fs.existsSync('/proc/self/cmdline');
  }
  return cmdline.split('\0').includes(arg);
}

export function isAlive(pid: number | undefined): pid is number {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DetachedOptions {
  name: string;
  command: string;
  args: string[];
  runDir: string;
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

/** Starts a server in its own process group, output appended to its log file. */
export function spawnDetached(o: DetachedOptions): number {
  fs.mkdirSync(o.runDir, { recursive: true });
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  const out = fs.openSync(o.logFile, 'a');
  const options: SpawnOptions = {
    cwd: o.cwd,
    env: o.env ?? process.env,
    detached: true,
    stdio: ['ignore', out, out],
  };
  if (o.uid !== undefined) options.uid = o.uid;
  if (o.gid !== undefined) options.gid = o.gid;
  const child = spawn(o.command, o.args, options);
  fs.closeSync(out);
  if (!child.pid) throw new StackError(`could not start ${o.command}; see ${o.logFile}`);
  child.unref();
  const started = procStat(child.pid)?.startTicks;
  fs.writeFileSync(
    pidFile(o.runDir, o.name),
    started === undefined ? `${child.pid}` : `${child.pid} ${started}`,
  );
  return child.pid;
}

/** SIGTERM, wait for a clean exit, SIGKILL only after the grace period. */
export async function stopPid(runDir: string, name: string, graceMs = 30_000): Promise<boolean> {
  const pid = readPid(runDir, name);
  if (pid === undefined) {
    fs.rmSync(pidFile(runDir, name), { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(pidFile(runDir, name), { force: true });
  return true;
}

/** The path of an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : undefined;
}

/** Runs a command to completion; rejects with its output tail on failure. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; uid?: number; gid?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    });
    let output = '';
    const collect = (b: Buffer) => {
      output += b.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (err) => reject(new StackError(`${command}: ${err.message}`)));
    child.on('close', (code) => {
      if (opts.logFile) {
        fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
        fs.appendFileSync(opts.logFile, output);
      }
      if (code === 0) resolve(output);
      else
        reject(
          new StackError(
            `${path.basename(command)} ${args.slice(0, 3).join(' ')} … exited with ${code}:\n${output.trim().split('\n').slice(-15).join('\n')}`,
          ),
        );
    });
  });
}
