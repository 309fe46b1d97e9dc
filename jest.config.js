/** Seven projects: pure unit tests (no servers), workflow tests (Temporal's test
 * environment on the cached Temporal CLI binary), the alert rules' promtool tests (promtool
 * fetched once into the cache), the deployment files' checks (hadolint, kustomize, kubeconform,
 * fetched once into the cache), integration tests (the real
 * local stack: Kafka, Temporal, PostgreSQL), the browser test of Temporal Web (the real stack and
 * Debian's Chromium, installed when missing and root) and fault scenarios (the real stack, whose
 * servers they stop and restart: they need --runInBand, as npm test runs). Global setups
 * bring up what is needed. */
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

/** @type {import('jest').Config} */
module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // Workflow and integration tests wait on real servers; unit tests finish in milliseconds anyway.
  testTimeout: 120_000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'workflows',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/workflows/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/quiet-temporal.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-temporal-binary.ts',
    },
    {
      // promtool on the alert rules and the dashboard's queries (fetched once into the cache).
      displayName: 'alerts',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/alerts/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-promtool.ts',
    },
    {
      // The Dockerfile (hadolint) and deploy/k8s (kustomize, kubeconform), tools fetched once into the cache.
      displayName: 'deploy',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/deploy/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-deploy-tools.ts',
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/quiet-temporal.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-stack.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown-stack.ts',
    },
    {
      // Temporal Web in headless Chromium (playwright-core) on the real stack.
      displayName: 'browser',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/browser/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/quiet-temporal.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-browser.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown-stack.ts',
    },
    {
      displayName: 'faults',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/quiet-temporal.ts'],
      globalSetup: '<rootDir>/test/support/global-setup-stack.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown-stack.ts',
    },
  ],
};
