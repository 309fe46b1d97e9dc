#!/usr/bin/env node
// The alert drill (docs/operations.md, "Alerts"): on the local stack (`idem stack up`), one
// event held stuck until IdemStuckEvents fires on a real Prometheus; prints `idem status`,
// `idem stuck` and Prometheus's /api/v1/alerts, then releases the event and stops what it
// started. Runs the build (dist/). `--hold` waits for Enter before releasing the event.
'use strict';
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist', 'src');
let modules;
try {
  modules = {
    ...require(path.join(dist, 'config')),
    ...require(path.join(dist, 'stack', 'alert-drill')),
    ...require(path.join(dist, 'stack', 'progress')),
  };
} catch (err) {
  console.error(`${err.message}\nBuild idem first: npm run build`);
  process.exit(2);
}
const { loadConfig, runAlertDrill, stderrReporter } = modules;

runAlertDrill({
  config: loadConfig(),
  report: stderrReporter,
  print: (text) => process.stdout.write(`${text}\n\n`),
  hold: process.argv.includes('--hold'),
}).catch((err) => {
  console.error(err);
  process.exit(1);
});
