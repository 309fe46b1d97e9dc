/**
 * How idem's workflows are bundled, ahead of time (scripts/bundle-workflows.js, the bundles in
 * dist/) or when a worker starts from source (the tests, src/testing): the same webpack entry
 * either way, src/workflows/sandbox.ts first.
 */
import type { BundleOptions } from '@temporalio/worker';

/** The module every bundle runs first (src/workflows/sandbox.ts). */
export const SANDBOX_MODULE = require.resolve('../workflows/sandbox');

/** Puts {@link SANDBOX_MODULE} ahead of the SDK's entry point: webpack runs an entry array's
 * modules in order, and the bundle's exports stay the last one's (the SDK's). */
export const webpackConfigHook: NonNullable<BundleOptions['webpackConfigHook']> = (config) => {
  const entry = config.entry;
  if (!Array.isArray(entry))
    throw new Error(`unexpected webpack entry from the Temporal SDK's bundler: ${JSON.stringify(entry)}`);
  return { ...config, entry: [SANDBOX_MODULE, ...entry] };
};
