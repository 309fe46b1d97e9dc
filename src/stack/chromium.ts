/**
 * Chromium, for the browser test of Temporal Web (test/browser): Debian's `chromium` package,
 * driven by playwright-core, which downloads no browser of its own. Unlike promtool a browser
 * cannot be unpacked into the cache (it needs its shared libraries installed), so it is
 * installed system-wide with apt-get, which needs root: CI runs as root on a fresh Debian
 * machine, a developer without root installs it once by hand. When it is neither here nor
 * installable, the browser project fails with the command that installs it; it is never skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';
import { run, StackError, which } from './proc';
import { step, type Reporter } from './progress';

export const CHROMIUM_PACKAGE = 'chromium';
/** Where Debian's package puts the browser. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

const INSTALL_HINT = `  Install Debian's package once: sudo apt-get install --no-install-recommends ${CHROMIUM_PACKAGE}`;

/** /usr/bin/chromium, or Debian's package installed there when running as root where apt-get is. */
export async function ensureChromium(layout: Layout, report: Reporter): Promise<string> {
  if (fs.existsSync(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  const aptGet = which('apt-get');
  if (!aptGet || process.getuid?.() !== 0) {
    throw new StackError(
      `Chromium is needed for the browser test of Temporal Web (test/browser), and ${DEBIAN_CHROMIUM} is missing` +
        (aptGet ? ' (installing it takes root).\n' : ' (there is no apt-get here to install it).\n') +
        INSTALL_HINT,
    );
  }
  const logFile = path.join(layout.logDir, 'chromium-install.log');
  const install = [
    '-q',
    '-y',
    // Another apt run (unattended upgrades, a second test run) holds the lock for a while.
    '-o',
    'DPkg::Lock::Timeout=300',
    'install',
    '--no-install-recommends',
    CHROMIUM_PACKAGE,
  ];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await step(
    `installing Debian's ${CHROMIUM_PACKAGE} package with apt-get (first run only: 124 MB to download, 414 MB installed)`,
    async () => {
      try {
        await run(aptGet, install, { env, logFile });
      } catch (firstErr) {
        // A fresh image may have no package lists, or lists older than the mirror's files.
        report(
          `  … apt-get install failed with the current package lists; running apt-get update (see ${logFile})`,
        );
        try {
          await run(aptGet, ['-q', '-o', 'DPkg::Lock::Timeout=300', 'update'], { env, logFile });
          await run(aptGet, install, { env, logFile });
        } catch (secondErr) {
          throw new StackError(
            `could not install Debian's ${CHROMIUM_PACKAGE} package.\n` +
              `  First attempt: ${(firstErr as Error).message}\n` +
              `  After apt-get update: ${(secondErr as Error).message}\n` +
              INSTALL_HINT,
          );
        }
      }
    },
    report,
  );
  if (!fs.existsSync(DEBIAN_CHROMIUM)) {
    throw new StackError(
      `apt-get installed ${CHROMIUM_PACKAGE} but ${DEBIAN_CHROMIUM} is missing; see ${logFile}`,
    );
  }
  // Debian's launcher script prints a shell warning of its own before the version on some machines.
  const version = (await run(DEBIAN_CHROMIUM, ['--version']))
    .split('\n')
    .find((l) => l.startsWith('Chromium'));
  report(`  ✓ ${version ?? CHROMIUM_PACKAGE} in ${DEBIAN_CHROMIUM}`);
  return DEBIAN_CHROMIUM;
}
