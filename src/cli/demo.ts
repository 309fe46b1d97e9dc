import type { Command } from 'commander';
import { runDemo } from '../demo/run';
import { loadConfig } from '../config';
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
        throw new Error(`--events ${o.events}: expected a whole number of at least 8`);
      const config = loadConfig();
      // The demo's own output is the summary; logs only when something is wrong.
      const logger = createLogger(config.logLevel === 'info' ? 'error' : config.logLevel);
      installTemporalRuntime('error');
      const report = await runDemo({ events, logger });
      process.exit(report.ok ? 0 : 1);
    });
}
