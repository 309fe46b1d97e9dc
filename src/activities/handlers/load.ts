/**
 * Loading the user's handlers, the way a Temporal worker is pointed at its
 * activities: `idem consume --handlers ./dist/handlers` (or `IDEM_HANDLERS`) names
 * a module, and idem applies only the event types that module registers. idem
 * ships no handlers of its own; the ledger in examples/ledger is an example.
 *
 * The module exports (as named exports, or as its default export) a
 * {@link HandlerModule}:
 *
 * ```ts
 * export const handlers = [orderPlaced, orderCancelled]; // made with defineHandler
 * export const migrations = { name: 'orders', dir: path.join(__dirname, 'migrations') };
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import type { MigrationSet } from '../../store/migrate';
import { HandlerRegistry, type AnyHandlerDefinition } from './registry';
import type { HandlerAudit } from './audit';
import { HandlersModuleError } from '../../errors';

export interface HandlerModule {
  /** Handlers made with `defineHandler`. */
  handlers?: readonly AnyHandlerDefinition[];
  /** Or: registers the handlers itself (`registry.register(type, fn, { schema })`). */
  register?: (registry: HandlerRegistry) => void;
  /** The handlers' own tables: numbered .sql files, applied by workers at start under this set's name. */
  migrations?: MigrationSet;
  /** Checks of the handlers' effects for `idem audit` (optional; see ./audit.ts). */
  audit?: HandlerAudit;
}

export interface LoadedHandlers {
  /** The resolved file of the module. */
  file: string;
  registry: HandlerRegistry;
  migrations: MigrationSet[];
  /** The module's checks for `idem audit`, if it exports any. */
  audit?: HandlerAudit;
}

/** Builds the registry of a handler module already imported. */
export function handlersFromModule(mod: HandlerModule, where = 'the handler module'): LoadedHandlers {
  const registry = new HandlerRegistry();
  if (mod.handlers) registry.add(...mod.handlers);
  mod.register?.(registry);
  if (registry.types().length === 0) {
    throw new HandlersModuleError(
      `${where} registers no handlers: export \`handlers\` (an array of defineHandler(...) results) ` +
        'or a `register(registry)` function; see docs/handlers.md',
    );
  }
  return {
    file: where,
    registry,
    migrations: mod.migrations ? [mod.migrations] : [],
    ...(mod.audit ? { audit: mod.audit } : {}),
  };
}

/**
 * Imports the module named by `--handlers` / `IDEM_HANDLERS`: a path (relative to
 * `cwd`), a directory with a package.json or index.js, or an installed package name.
 */
export function loadHandlerModule(spec: string, cwd = process.cwd()): LoadedHandlers {
  // A path when it says so or names something that exists; otherwise a package name (`@acme/handlers`).
  const local = path.resolve(cwd, spec);
  const isPath = spec.startsWith('.') || path.isAbsolute(spec) || fs.existsSync(local);
  let file: string;
  try {
    file = require.resolve(isPath ? local : spec, { paths: [cwd] });
  } catch (err) {
    throw new HandlersModuleError(
      `cannot find the handler module ${JSON.stringify(spec)} (from ${cwd}): ${(err as Error).message.split('\n')[0]}. ` +
        'Point --handlers or IDEM_HANDLERS at your compiled handlers (a .js file, a directory with index.js, ' +
        'or a package name).',
      { cause: err },
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module is named at run time
  const loaded = require(file) as HandlerModule & { default?: HandlerModule };
  const mod = loaded.default && !loaded.handlers && !loaded.register ? loaded.default : loaded;
  return { ...handlersFromModule(mod, file), file };
}
