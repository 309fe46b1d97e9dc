/** Workflow tests run Temporal's test environment on the same CLI binary as the stack:
 * make sure it exists (built into the cache on first use), never downloaded. */
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stderrReporter } from '../../src/stack/progress';
import { ensureTemporalCli } from '../../src/stack/temporal';

export default async function globalSetup(): Promise<void> {
  const layout = layoutFor(loadConfig().cacheDir);
  process.env.IDEM_TEMPORAL_CLI = await ensureTemporalCli(layout, stderrReporter);
}
