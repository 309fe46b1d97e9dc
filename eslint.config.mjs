// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // Workflow code runs in Temporal's deterministic sandbox: it may import activity
    // *types* and @temporalio/workflow, never I/O libraries or Node built-ins.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
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
