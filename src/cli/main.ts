/** The `idem` command. Each subcommand lives in its own module. */
import { Command } from 'commander';
import { UserError } from '../errors';
import { registerStackCommands } from './stack';
import { registerMigrateCommand } from './migrate';
import { registerRunCommands } from './run';
import { registerDlqCommands } from './dlq';
import { registerDemoCommand } from './demo';
import { registerBenchCommand } from './bench';
import { registerCodecServerCommand } from './codec-server';
import { registerAuditCommand } from './audit';
import { registerInspectCommand } from './inspect';
import { registerStatusCommand } from './status';
import { registerStuckCommand } from './stuck';
import { registerPruneCommand } from './prune';

export function buildProgram(): Command {
  const program = new Command()
    .name('idem')
    .description('Idempotent Kafka event consumer on Temporal and PostgreSQL')
    .showHelpAfterError();
  registerRunCommands(program);
  registerStackCommands(program);
  registerMigrateCommand(program);
  registerDlqCommands(program);
  registerDemoCommand(program);
  registerBenchCommand(program);
  registerCodecServerCommand(program);
  registerAuditCommand(program);
  registerStatusCommand(program);
  registerStuckCommand(program);
  registerInspectCommand(program);
  registerPruneCommand(program);
  return program;
}

/** Prints a one-paragraph message for errors a user can fix, a stack trace otherwise. */
export function reportFatal(err: unknown): never {
  if (err instanceof UserError) {
    console.error(`idem: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
}

export function main(argv: string[]): void {
  buildProgram()
    .parseAsync(argv)
    .catch((err: unknown) => reportFatal(err));
}
