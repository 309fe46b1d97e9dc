/** The alert rules' tests run promtool: found on PATH or in the cache, else fetched once from
 * Debian's `prometheus` package into the cache (src/stack/promtool.ts). */
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stderrReporter } from '../../src/stack/progress';
import { ensurePromtool } from '../../src/stack/promtool';

export default async function globalSetup(): Promise<void> {
  const layout = layoutFor(loadConfig().cacheDir);
  process.env.IDEM_PROMTOOL = await ensurePromtool(layout, stderrReporter);
}
