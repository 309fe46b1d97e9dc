/**
 * The local stack's pid files name a server only while that server runs: a pid file outlives a
 * killed server, and a machine restored from a snapshot (CI) holds pid files whose pids are gone or
 * belong to other processes by now. Real processes and files; Linux's /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { postmasterPid } from '../../src/stack/postgres';
import { pidFile, readPid, spawnDetached, stopPid } from '../../src/stack/proc';
import { procStat } from '../../src/stack/proc-stat';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-pids-'));
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A process that idles with `args` on its command line (after `--`: node would take `-D` for an
 * option of its own, refuse it and exit, and a check that ran first passed by luck). */
function idler(...args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', ...args], {
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function exited(child: ChildProcess): Promise<number> {
  const pid = child.pid!;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return pid;
}

const linux = fs.existsSync('/proc/self/stat');
const onLinux = linux ? test : test.skip;

describe('pid files of the servers the stack starts', () => {
  test('name the server while it runs, nothing once it is gone', async () => {
    const pid = spawnDetached({
      name: 'idler',
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      runDir: dir,
      logFile: path.join(dir, 'idler.log'),
    });
    expect(readPid(dir, 'idler')).toBe(pid);
    expect(await stopPid(dir, 'idler', 5000)).toBe(true);
    expect(readPid(dir, 'idler')).toBeUndefined();
  });

  test('a pid that is gone names nothing', async () => {
    const pid = await exited(idler());
    fs.writeFileSync(pidFile(dir, 'kafka'), String(pid));
    expect(readPid(dir, 'kafka')).toBeUndefined();
  });

  onLinux('a pid now used by another process names nothing, and stopping does not signal it', async () => {
    const other = idler();
    const started = procStat(other.pid!)!.startTicks;
    // The pid file of a server that ran before this process started under the same pid.
    fs.writeFileSync(pidFile(dir, 'temporal'), `${other.pid} ${started - 100}`);
    expect(readPid(dir, 'temporal')).toBeUndefined();
    expect(await stopPid(dir, 'temporal', 1000)).toBe(false);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
  });
});

describe("PostgreSQL's postmaster.pid", () => {
  const write = (pid: number) => fs.writeFileSync(path.join(dir, 'postmaster.pid'), `${pid}\n${dir}\n`);

  test('names the server started on that data directory', () => {
    const server = idler('-D', dir);
    write(server.pid!);
    expect(postmasterPid(dir)).toBe(server.pid);
  });

  test('left by a server that is gone names nothing', async () => {
    write(await exited(idler('-D', dir)));
    expect(postmasterPid(dir)).toBeUndefined();
  });

  onLinux('naming a pid that another process has by now names nothing', () => {
    // What a data directory restored from a snapshot holds: the old server's pid, now someone else's.
    write(idler('-D', path.join(dir, 'elsewhere')).pid!);
    expect(postmasterPid(dir)).toBeUndefined();
  });
});
