import type { Command } from 'commander';
import { loadConfig } from '../config';
import { InvalidArgumentError } from '../errors';
import { createLogger } from '../observability/logger';
import { installTemporalRuntime } from './run';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'start the local stack and a consumer, send events with duplicates and bad records, show what happened',
    )
    .option('--events <n>', 'unique ledger events to send', '400')
    .action(async (o: { events: string }) => {
      const events = Number(o.events);
      if (!Number.isInteger(events) || events < 8)
        throw new InvalidArgumentError(`--events ${o.events}: expected a whole number of at least 8`);
      const config = loadConfig();
      // The demo's own output is the summary; logs only when something is wrong.
      const logger = createLogger(config.logLevel === 'info' ? 'error' : config.logLevel);
      installTemporalRuntime('error');
      // The demo (and its progress bar) is a development tool: loaded only by this command.
      const { runDemo } = await import('../demo/run');
      const report = await runDemo({ events, logger });
      process.exit(report.ok ? 0 : 1);
    });
}
