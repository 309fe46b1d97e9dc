// Temporal SDK logs at ERROR in tests: its INFO logs every worker state change, and tests provoke failures on purpose.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed in this process by an earlier test file.
}
