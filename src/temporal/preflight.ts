/**
 * Start-up checks of the ingester: misconfiguration that would otherwise make every
 * workflow start fail (and be retried forever) stops the process with a fix.
 */
import type { Connection } from '@temporalio/client';
import { ConfigError } from '../errors';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** idem's search attributes must exist in the namespace, or Temporal rejects every start. */
export async function checkSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(res.customAttributes ?? {}));
  const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !known.has(k.name));
  if (missing.length === 0) return;
  throw new ConfigError(
    `Temporal namespace "${namespace}" lacks idem's search attributes: ${missing.map((k) => k.name).join(', ')}.\n` +
      'Create them once (the local stack does this itself):\n' +
      missing
        .map(
          (k) =>
            `  temporal operator search-attribute create --namespace ${namespace} --name ${k.name} --type Keyword`,
        )
        .join('\n'),
  );
}
