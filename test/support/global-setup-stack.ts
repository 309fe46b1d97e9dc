/**
 * Integration tests run against the real local stack. If it is not up, bring it up
 * (building or downloading into the cache on a new machine) and stop it again in
 * the teardown; if it was already up, leave it as it was.
 */
import { loadConfig, userDatabaseUrl } from '../../src/config';
import { stackStatus, stackUp } from '../../src/stack/stack';
import { clearDroppedPackets } from './blackhole';

export default async function globalSetup(): Promise<void> {
  const config = loadConfig();
  const ports = clearDroppedPackets();
  if (ports.length > 0) {
    process.stderr.write(
      `\nidem: removed the packet-dropping rule a killed fault run left on port ${ports.join(', ')}\n`,
    );
  }
  const status = await stackStatus(config);
  if (status.every((c) => c.healthy)) return;
  process.stderr.write(
    `\nidem: bringing up the local stack for integration tests (cache ${config.cacheDir})\n`,
  );
  const result = await stackUp({ config, externalDatabaseUrl: userDatabaseUrl() });
  globalThis.__IDEM_STACK_STARTED__ = result.started.length > 0;
}
