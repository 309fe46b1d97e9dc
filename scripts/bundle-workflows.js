#!/usr/bin/env node
// The build's third step: idem's workflows bundled once, at build time, into
// dist/workflow-bundle.js. A worker then loads the bundle instead of running
// webpack at start-up, which took seconds of CPU and left webpack's code and
// strings in the process (tens of MB of its resident memory). Run from source
// (the tests), the worker bundles at start-up as before.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorkflowCode } = require('@temporalio/worker');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'workflow-bundle.js');

bundleWorkflowCode({
  workflowsPath: require.resolve(path.join(root, 'dist', 'src', 'workflows')),
  logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
})
  .then(({ code }) => fs.writeFileSync(out, code))
  .catch((err) => {
    console.error(`bundling idem's workflows failed: ${err.stack ?? err}`);
    process.exit(1);
  });
