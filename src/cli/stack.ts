import type { Command } from 'commander';
import { loadConfig, stackEnvFile, userDatabaseUrl } from '../config';

/** The local stack is a development tool: loaded only by the commands that use it. */
const stackModule = () => import('../stack/stack');

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description('the local Kafka, Temporal and PostgreSQL (no Docker needed)');

  stack
    .command('up')
    .description(
      'provision and start the stack (idempotent; the first run builds and downloads for a few minutes)',
    )
    .action(async () => {
      const config = loadConfig();
      const started = Date.now();
      console.error(`idem stack up (cache: ${config.cacheDir})`);
      const { stackUp } = await stackModule();
      const result = await stackUp({ config, externalDatabaseUrl: userDatabaseUrl() });
      console.error(
        `\nStack ready in ${((Date.now() - started) / 1000).toFixed(1)}s` +
          (result.reused.length ? ` (already running: ${result.reused.join(', ')})` : '') +
          `\n  Temporal Web: ${result.env.TEMPORAL_WEB_URL}\n  Addresses written to ${stackEnvFile(config.cacheDir)}` +
          `\n  For a shell: eval "$(idem stack env)"`,
      );
    });

  stack
    .command('down')
    .description('stop the stack; data stays in the cache for the next up')
    .action(async () => {
      const { stackDown } = await stackModule();
      await stackDown(loadConfig());
    });

  stack
    .command('reset')
    .description(
      "stop the stack and delete its data (Temporal's workflows, Kafka's topics, PostgreSQL's databases); downloads and builds stay",
    )
    .option('--yes', 'delete without asking (required)')
    .action(async (opts: { yes?: boolean }) => {
      const { stackDataPaths, stackReset } = await stackModule();
      const config = loadConfig();
      if (!opts.yes) {
        console.error(
          "idem stack reset deletes the local stack's data:\n" +
            stackDataPaths(config.cacheDir)
              .map((p) => `  ${p}`)
              .join('\n') +
            '\nRun `idem stack reset --yes` to go ahead.',
        );
        process.exitCode = 2;
        return;
      }
      await stackReset(config);
      console.error('Stack data deleted; `idem stack up` starts it empty.');
    });

  stack
    .command('status')
    .description("each component's health and address")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { stackStatus } = await stackModule();
      const status = await stackStatus(loadConfig());
      if (opts.json) console.log(JSON.stringify(status, null, 2));
      else
        for (const c of status) {
          const pid = c.pid ? ` pid ${c.pid}` : '';
          console.log(
            `${c.healthy ? '✓' : '✗'} ${c.name.padEnd(13)} ${c.healthy ? 'healthy' : 'DOWN   '} ${c.url}${pid}${c.detail ? `  (${c.detail})` : ''}`,
          );
        }
      if (!status.every((c) => c.healthy)) process.exitCode = 1;
    });

  stack
    .command('env')
    .description('print the stack addresses as `export NAME=value` lines (eval "$(idem stack env)")')
    .action(async () => {
      const { formatEnv, readStackEnv } = await stackModule();
      const config = loadConfig();
      const text = readStackEnv(config.cacheDir);
      if (!text) {
        console.error('idem: no stack file yet; run `idem stack up` first');
        process.exitCode = 1;
        return;
      }
      const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
      process.stdout.write(
        formatEnv(Object.fromEntries(lines.map((l) => l.split(/=(.*)/s).slice(0, 2))), true),
      );
    });
}
