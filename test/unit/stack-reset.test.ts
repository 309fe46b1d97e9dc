/**
 * `idem stack reset` deletes each component's data and nothing else: the Temporal CLI, Kafka's
 * jars and PostgreSQL's binaries stay, so the next `up` starts empty without downloading again.
 * Real files in a scratch cache; no server runs under it, so the stop finds nothing to stop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Config } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stackDataPaths, stackReset } from '../../src/stack/stack';

let cacheDir: string;

beforeEach(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-reset-'));
});

afterEach(() => {
  fs.rmSync(layoutFor(cacheDir).postgresDir, { recursive: true, force: true });
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function touch(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'x');
}

test("deletes Temporal's database, Kafka's data and PostgreSQL's data directory; keeps the downloads", async () => {
  const layout = layoutFor(cacheDir);
  const data = [
    path.join(layout.temporalDir, 'temporal.db'),
    path.join(layout.temporalDir, 'temporal.db-wal'),
    path.join(layout.kafkaDir, 'data', 'meta.properties'),
    path.join(layout.kafkaDir, 'data', 'orders-0', '00000000000000000000.log'),
    path.join(layout.postgresDir, 'data', 'PG_VERSION'),
  ];
  const kept = [
    path.join(layout.binDir, 'temporal'),
    path.join(layout.kafkaDir, 'libs-e54f5ceae1a8', 'kafka_2.13.jar'),
    path.join(layout.kafkaDir, 'server.properties'),
    path.join(layout.logDir, 'temporal.log'),
  ];
  for (const f of [...data, ...kept]) touch(f);

  const deleted = await stackReset({ cacheDir } as Config, () => undefined);

  for (const f of data) expect(fs.existsSync(f)).toBe(false);
  for (const f of kept) expect(fs.existsSync(f)).toBe(true);
  expect(deleted.sort()).toEqual(
    stackDataPaths(cacheDir)
      .filter((p) => !p.endsWith('-shm'))
      .sort(),
  );
  // Nothing left to delete: a second reset is a no-op.
  expect(await stackReset({ cacheDir } as Config, () => undefined)).toEqual([]);
});
