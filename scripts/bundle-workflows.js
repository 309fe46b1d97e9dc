#!/usr/bin/env node
// The build's third step: idem's workflows bundled once, at build time, into
// dist/workflow-bundle.js. A worker then loads the bundle instead of running
// webpack at start-up, which took seconds of CPU and left webpack's code and
// strings in the process (tens of MB of its resident memory). Run from source
// (the tests), the worker bundles at start-up as before.
//
// A second bundle, dist/workflow-bundle-encrypted.js, carries the failure
// converter that encodes failure messages and stack traces (so the payload codec
// encrypts them): workers with IDEM_ENCRYPTION_KEYS load that one. A bundle's
// failure converter is fixed when it is built.
//
// Each has a -traced twin (dist/workflow-bundle-traced.js,
// dist/workflow-bundle-encrypted-traced.js) with Temporal's OpenTelemetry
// workflow interceptors: workers with an OTLP endpoint configured load it, and
// the others run no interceptor at all. Interceptor modules, too, are fixed when
// a bundle is built.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorkflowCode } = require('@temporalio/worker');

const root = path.join(__dirname, '..');
const workflowsPath = require.resolve(path.join(root, 'dist', 'src', 'workflows'));
const logger = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };

// The same module src/observability/tracing.ts gives a worker that bundles at start.
const { WORKFLOW_TRACING_MODULE } = require(path.join(root, 'dist', 'src', 'observability', 'tracing'));
const failureConverterPath = require.resolve(path.join(root, 'dist', 'src', 'temporal', 'failure-converter'));
// src/workflows/sandbox.ts first in every bundle, as when a worker bundles at start.
const { webpackConfigHook } = require(path.join(root, 'dist', 'src', 'temporal', 'workflow-bundle'));

async function main() {
  for (const encrypted of [false, true]) {
    for (const traced of [false, true]) {
      const { code } = await bundleWorkflowCode({
        workflowsPath,
        logger,
        webpackConfigHook,
        ...(encrypted ? { failureConverterPath } : {}),
        ...(traced ? { workflowInterceptorModules: [WORKFLOW_TRACING_MODULE] } : {}),
      });
      const name = `workflow-bundle${encrypted ? '-encrypted' : ''}${traced ? '-traced' : ''}.js`;
      fs.writeFileSync(path.join(root, 'dist', name), code);
    }
  }
}

main().catch((err) => {
  console.error(`bundling idem's workflows failed: ${err.stack ?? err}`);
  process.exit(1);
});
