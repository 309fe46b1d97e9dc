/**
 * The directory of idem's own package.json, found by walking up from this file, so
 * it is the same from the TypeScript sources (tests) and from the build output,
 * wherever the build puts its files.
 */
import fs from 'node:fs';
import path from 'node:path';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'idem') return dir;
    } catch {
      // no package.json here, or not idem's: keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`idem's package.json not found above ${from}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(__dirname);
