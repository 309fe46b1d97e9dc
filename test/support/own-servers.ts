/**
 * Servers a test starts for itself, on ports of their own beside the shared local stack (which
 * they leave as it is): a Temporal dev server whose SQLite file the test reads, and the helpers
 * the transport-security tests build on (free ports, child processes stopped by their pid).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultCacheDir } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import {
  ONE_PARTITION,
  SEARCH_ATTRIBUTES,
  findTemporalCli,
  httpOk,
  temporalHealthy,
} from '../../src/stack/temporal';
import { freeLoopbackPort as freePort } from '../../src/net';
import { eventually } from './poll';

export { freePort };

export interface OwnProcess {
  child: ChildProcess;
  logFile: string;
  /** The end of its log, for a failure message. */
  logTail(): string;
  /** `signal` (SIGTERM), then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `command` with its output in `logFile`; it is stopped by its own pid, never by name. */
export function startProcess(
  command: string,
  args: string[],
  logFile: string,
  opts: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): OwnProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', out, out],
    env: opts.env ?? process.env,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  return {
    child,
    logFile,
    logTail: () => {
      try {
        return fs.readFileSync(logFile, 'utf8').slice(-3000);
      } catch {
        return '';
      }
    },
    async stop(graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface OwnTemporal {
  address: string;
  /** The SQLite file of its state; `-wal` beside it. */
  dbFile: string;
  /** Temporal Web, when started with a UI. */
  webUrl?: string;
  process: OwnProcess;
  stop(): Promise<void>;
}

/**
 * A Temporal CLI dev server of the test's own (the stack's binary), its state in `dir`/temporal.db
 * in WAL mode as the stack runs it, with idem's search attributes. `ui` starts Temporal Web on a
 * port of its own, with `--ui-codec-endpoint` when `codecEndpoint` is given.
 */
export async function startOwnTemporal(
  dir: string,
  opts: { ui?: boolean; codecEndpoint?: string } = {},
): Promise<OwnTemporal> {
  const cli = findTemporalCli(layoutFor(defaultCacheDir(process.env)));
  if (!cli) throw new Error('the Temporal CLI is not built yet: run `node bin/idem.js stack up` once');
  const [port, httpPort, metricsPort, uiPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const address = `127.0.0.1:${port}`;
  const dbFile = path.join(dir, 'temporal.db');
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--db-filename',
    dbFile,
    '--log-level',
    'warn',
    '--sqlite-pragma',
    'journal_mode=WAL',
    ...ONE_PARTITION,
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...(opts.ui ? ['--ui-port', String(uiPort)] : ['--headless']),
    ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
  ];
  const p = startProcess(cli, args, path.join(dir, 'temporal.log'));
  const webUrl = opts.ui ? `http://127.0.0.1:${uiPort}` : undefined;
  try {
    await eventually(
      async () => {
        if (p.child.exitCode !== null) throw new Error(`temporal exited: ${p.logTail()}`);
        return (await temporalHealthy(address)) && (!webUrl || (await httpOk(webUrl)));
      },
      120_000,
      `a Temporal dev server on ${address}`,
      250,
    );
  } catch (err) {
    await p.stop();
    throw err;
  }
  return { address, dbFile, ...(webUrl ? { webUrl } : {}), process: p, stop: () => p.stop() };
}

/**
 * Whether `needle` occurs in the bytes of a SQLite database: the main file and its `-wal` (what is
 * not checkpointed yet). Read as raw bytes, so nothing is missed that a query might not show
 * (free pages, old row versions); a value longer than a page may be split across pages, which is
 * why callers look for markers shorter than that.
 */
export function sqliteFilesContain(dbFile: string, needle: string): boolean {
  const bytes = Buffer.from(needle, 'utf8');
  return [dbFile, `${dbFile}-wal`].some((f) => fs.existsSync(f) && fs.readFileSync(f).includes(bytes));
}

const REPO = path.resolve(__dirname, '..', '..');

export interface IdemChild {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Runs the built `idem` command (bin/idem.js, dist/) as its own process, as an operator would. */
export function spawnIdem(args: string[], env: Record<string, string>): IdemChild {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  let output = '';
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'idem.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** `idem consume` with the ledger example's handlers. */
export function spawnConsume(env: Record<string, string>): IdemChild {
  return spawnIdem(['consume', '--handlers', path.join(REPO, 'examples', 'ledger')], env);
}
