/**
 * promtool and the Prometheus server, from Debian's `prometheus` package, which apt downloads
 * from the configured mirror and verifies against the signed package lists, and `dpkg-deb`
 * unpacks. Neither step needs root nor installs anything: only the two binaries are kept, in the
 * cache's bin directory, and reused from then on. promtool runs the alert rules' unit tests
 * (deploy/prometheus/tests); the server runs the rules live against a real idem's /metrics
 * (src/stack/prometheus.ts: the alert drill and its integration test). One download yields both.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';
import { run, StackError, which } from './proc';
import { step, type Reporter } from './progress';

export const PROMTOOL_PACKAGE = 'prometheus';

/** The binaries kept from the package (its usr/bin). */
const BINARIES = ['promtool', 'prometheus'] as const;
type Binary = (typeof BINARIES)[number];

/** `name` on PATH, else the cached copy (if present). */
function findBinary(layout: Layout, name: Binary): string | undefined {
  const cached = path.join(layout.binDir, name);
  return which(name) ?? (fs.existsSync(cached) ? cached : undefined);
}

/** `promtool` on PATH, else the cached copy (if present). */
export function findPromtool(layout: Layout): string | undefined {
  return findBinary(layout, 'promtool');
}

/** The `prometheus` server on PATH, else the cached copy (if present). */
export function findPrometheus(layout: Layout): string | undefined {
  return findBinary(layout, 'prometheus');
}

/** Finds promtool or fetches it once from Debian's `prometheus` package into the cache. */
export async function ensurePromtool(layout: Layout, report: Reporter): Promise<string> {
  return findPromtool(layout) ?? (await fetchPrometheusPackage(layout, report)).promtool;
}

/** Finds the Prometheus server or fetches it once from Debian's `prometheus` package into the
 * cache (a cache that has only promtool, from before the server was kept, is completed). */
export async function ensurePrometheus(layout: Layout, report: Reporter): Promise<string> {
  return findPrometheus(layout) ?? (await fetchPrometheusPackage(layout, report)).prometheus;
}

/** Downloads the package once and keeps both binaries in the cache's bin directory. */
async function fetchPrometheusPackage(layout: Layout, report: Reporter): Promise<Record<Binary, string>> {
  const aptGet = which('apt-get');
  const dpkgDeb = which('dpkg-deb');
  if (!aptGet || !dpkgDeb) {
    throw new StackError(
      'promtool and prometheus are needed for the alert rules tests, and apt-get and dpkg-deb (Debian, Ubuntu) are not here to fetch them.\n' +
        '  Put promtool and prometheus binaries on PATH: they ship in the Prometheus release tarballs\n' +
        '  (https://prometheus.io/download/); promtool also by `go install github.com/prometheus/prometheus/cmd/promtool@<version>`.',
    );
  }
  fs.mkdirSync(layout.binDir, { recursive: true });
  fs.mkdirSync(layout.logDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(layout.cacheDir, 'promtool-'));
  const logFile = path.join(layout.logDir, 'promtool-fetch.log');
  try {
    const deb = await step(
      `downloading Debian's ${PROMTOOL_PACKAGE} package for promtool and prometheus with apt-get download (first run only, about 20 MB)`,
      () => downloadDeb(aptGet, work, logFile, report),
      report,
    );
    const unpacked = path.join(work, 'root');
    await run(dpkgDeb, ['-x', deb, unpacked], { logFile });
    const kept = {} as Record<Binary, string>;
    for (const name of BINARIES) {
      const binary = path.join(unpacked, 'usr', 'bin', name);
      if (!fs.existsSync(binary)) {
        throw new StackError(`${path.basename(deb)} holds no usr/bin/${name}; see ${logFile}`);
      }
      // Renamed into place so a concurrent run never finds half a binary.
      const target = path.join(layout.binDir, name);
      const partial = `${target}.${process.pid}.partial`;
      fs.copyFileSync(binary, partial);
      fs.chmodSync(partial, 0o755);
      fs.renameSync(partial, target);
      report(`  ✓ ${(await run(target, ['--version'])).split('\n')[0]} in ${target}`);
      kept[name] = target;
    }
    return kept;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `apt-get download` with the system's package lists. Where there are none (a container
 * image that deleted them, apt-get update never run), the same sources and keyring with
 * lists of our own in the work directory: `apt-get update` into them needs no root either.
 * They go with the work directory: kept, they would name a version the mirror drops at
 * Debian's next point release.
 */
async function downloadDeb(aptGet: string, work: string, logFile: string, report: Reporter): Promise<string> {
  try {
    await run(aptGet, ['-q', 'download', PROMTOOL_PACKAGE], { cwd: work, logFile });
  } catch (systemListsErr) {
    report(
      `  … apt-get download found no ${PROMTOOL_PACKAGE} with the system's package lists; fetching Debian's lists into ${work} (about 15 MB)`,
    );
    const lists = path.join(work, 'lists');
    const archives = path.join(work, 'archives');
    fs.mkdirSync(path.join(lists, 'partial'), { recursive: true });
    fs.mkdirSync(path.join(archives, 'partial'), { recursive: true });
    const own = [
      '-q',
      '-o',
      `Dir::State::Lists=${lists}`,
      '-o',
      `Dir::Cache=${work}`,
      '-o',
      `Dir::Cache::Archives=${archives}`,
      '-o',
      'Debug::NoLocking=1',
    ];
    try {
      await run(aptGet, [...own, 'update'], { cwd: work, logFile });
      await run(aptGet, [...own, 'download', PROMTOOL_PACKAGE], { cwd: work, logFile });
    } catch (ownListsErr) {
      throw new StackError(
        `could not download Debian's ${PROMTOOL_PACKAGE} package for promtool and prometheus.\n` +
          `  With the system's package lists: ${(systemListsErr as Error).message}\n` +
          `  With package lists of our own: ${(ownListsErr as Error).message}\n` +
          '  Check that a Debian mirror is reachable (the sources in /etc/apt), or put promtool and prometheus binaries on PATH.',
      );
    }
  }
  const deb = fs.readdirSync(work).find((f) => f.startsWith(`${PROMTOOL_PACKAGE}_`) && f.endsWith('.deb'));
  if (!deb) throw new StackError(`apt-get download left no ${PROMTOOL_PACKAGE}_*.deb in ${work}`);
  return path.join(work, deb);
}
