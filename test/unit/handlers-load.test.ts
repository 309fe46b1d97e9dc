import fs from 'node:fs';
import path from 'node:path';
import { loadHandlerModule } from '../../src/activities/handlers/load';
import { HandlersModuleError } from '../../src/errors';

const repo = path.resolve(__dirname, '..', '..');

test('the ledger example loads as a handler module, with its own migration set', () => {
  // Through the example's package.json, which points at its build output when there is one.
  const built = path.join(repo, 'dist', 'examples', 'ledger', 'index.js');
  const spec = fs.existsSync(built) ? 'examples/ledger' : 'examples/ledger/index.ts';
  const loaded = loadHandlerModule(spec, repo);
  expect(loaded.registry.types()).toEqual(['account.credited', 'account.debited']);
  expect(loaded.migrations).toEqual([
    { name: 'ledger', dir: expect.stringMatching(/examples[/\\]ledger[/\\]migrations$/) },
  ]);
});

test('a default export with a register function works', () => {
  const loaded = loadHandlerModule('./test/fixtures/handlers-register.js', repo);
  expect(loaded.registry.types()).toEqual(['thing.happened']);
  expect(loaded.migrations).toEqual([]);
});

test('a module that registers nothing is refused with the fix', () => {
  expect(() => loadHandlerModule('./test/fixtures/handlers-none.js', repo)).toThrow(HandlersModuleError);
  expect(() => loadHandlerModule('./test/fixtures/handlers-none.js', repo)).toThrow(/registers no handlers/);
});

test('a module that does not exist is refused with what to point at', () => {
  expect(() => loadHandlerModule('./no/such/handlers', repo)).toThrow(
    /cannot find the handler module "\.\/no\/such\/handlers".*Point --handlers or IDEM_HANDLERS/,
  );
});

test('a name that is not a path is resolved as an installed package', () => {
  expect(() => loadHandlerModule('@acme/no-such-handlers', repo)).toThrow(
    /cannot find the handler module "@acme\/no-such-handlers"/,
  );
  // An installed package that registers nothing is loaded, then refused for that.
  expect(() => loadHandlerModule('zod', repo)).toThrow(/registers no handlers/);
});
