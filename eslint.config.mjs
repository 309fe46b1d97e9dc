// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports that only entry points (src/app.ts, src/cli) and the development tools may make. */
const LAYERING = [
  {
    // prepare.ts, the ingester's pure parse of a record, is shared: `idem audit` parses as it does.
    group: ['**/ingest/*', '!**/ingest/prepare'],
    message: 'Only src/app.ts and src/cli import the ingester (its pure prepare.ts aside).',
  },
  { regex: '(^|/)ingest$', message: 'Only src/app.ts and src/cli import the ingester.' },
  {
    group: [
      '**/stack',
      '**/stack/*',
      '**/demo',
      '**/demo/*',
      '**/testing',
      '**/testing/*',
      '**/bench',
      '**/bench/*',
    ],
    message:
      'The local stack, the demo and the test kit are development tools, loaded only by their commands.',
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bin/**',
      'scripts/**',
      'test/fixtures/**',
      'test/support/*.js',
      '*.config.js',
      '*.config.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The module map (docs/architecture.md): the Kafka consumer is wired only by the entry points,
    // and the development tools (local stack, demo) are loaded only by their CLI commands.
    files: ['src/**/*.ts'],
    ignores: [
      'src/app.ts',
      'src/cli/**',
      'src/ingest/**',
      'src/stack/**',
      'src/demo/**',
      'src/testing/**',
      'src/bench/**',
    ],
    rules: {
      'no-restricted-imports': ['error', { patterns: LAYERING }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: it may import activity
    // *types* and @temporalio/workflow, never I/O libraries or Node built-ins.
    files: ['src/workflows/**/*.ts', 'src/bench/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...LAYERING,
            { group: ['node:*'], message: 'Workflow code must be deterministic: no Node built-ins.' },
            {
              group: [
                'pg',
                'kafkajs',
                'prom-client',
                'pino',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
                'fs',
                'path',
                'crypto',
                'os',
                'child_process',
                'net',
                'http',
              ],
              message: 'Workflow code must be deterministic: do I/O in activities.',
            },
          ],
        },
      ],
    },
  },
);
