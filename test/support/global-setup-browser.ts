/** The browser test drives Debian's Chromium (found, or installed with apt-get when root:
 * src/stack/chromium.ts) against Temporal Web on the real local stack, brought up as for the
 * integration tests. */
import { loadConfig } from '../../src/config';
import { ensureChromium } from '../../src/stack/chromium';
import { layoutFor } from '../../src/stack/layout';
import { stderrReporter } from '../../src/stack/progress';
import stackSetup from './global-setup-stack';

export default async function globalSetup(): Promise<void> {
  process.env.IDEM_CHROMIUM = await ensureChromium(layoutFor(loadConfig().cacheDir), stderrReporter);
  await stackSetup();
}
