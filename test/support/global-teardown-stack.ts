import { loadConfig } from '../../src/config';
import { stackDown } from '../../src/stack/stack';

export default async function globalTeardown(): Promise<void> {
  if (!globalThis.__IDEM_STACK_STARTED__) return;
  // Keep the stack for inspection when asked to (IDEM_KEEP_STACK=1 npm test).
  if (process.env.IDEM_KEEP_STACK) return;
  await stackDown(loadConfig(), () => undefined);
}
