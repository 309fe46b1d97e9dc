/** A fresh, migrated PostgreSQL database per test file (`idem_t_<prefix>_<random>`), on the
 * configured server: the exported helper of src/testing, named for idem's own tests. */
import { createTestDatabase as createDatabase, type TestDatabase } from '../../src/testing';

export type { TestDatabase };

export function createTestDatabase(prefix: string): Promise<TestDatabase> {
  return createDatabase({ prefix: `t_${prefix}` });
}
