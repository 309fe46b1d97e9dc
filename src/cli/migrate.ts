import type { Command } from 'commander';
import { Pool } from 'pg';
import { loadConfig } from '../config';
import { migrate } from '../store/migrate';
import { pgConnectionConfig } from '../store/tls';
import { requireHandlers } from './run';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      "apply pending database migrations: idem's own, then the handler module's (workers also do it at start)",
    )
    .option('--handlers <module>', "also apply this handler module's migrations; default IDEM_HANDLERS")
    .action(async (o: { handlers?: string }) => {
      const config = loadConfig();
      const handlers =
        o.handlers || config.handlers ? requireHandlers(config, o.handlers, 'migrate') : undefined;
      const pool = new Pool({ ...pgConnectionConfig(config.database.url), max: 1 });
      try {
        const applied = await migrate(pool, handlers?.migrations);
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await pool.end();
      }
    });
}
