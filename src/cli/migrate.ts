import type { Command } from 'commander';
import { Pool } from 'pg';
import { loadConfig } from '../config';
import { migrate } from '../store/migrate';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (also run by `idem stack up`)')
    .action(async () => {
      const config = loadConfig();
      const pool = new Pool({ connectionString: config.database.url, max: 1 });
      try {
        const applied = await migrate(pool);
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await pool.end();
      }
    });
}
