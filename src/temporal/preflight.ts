/**
 * Start-up checks of the ingester and the worker: misconfiguration that would otherwise make every
 * workflow start fail (and be retried forever), or every retrying workflow's upsert fail, stops the
 * process with a fix.
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ConfigError } from '../errors';
import {
  ALL_SEARCH_ATTRIBUTES,
  CLI_TYPE_NAMES,
  type IdemSearchAttribute,
} from '../workflows/search-attributes';

/** The `temporal operator search-attribute create` command that registers `key`. */
export function createSearchAttributeCommand(namespace: string, key: IdemSearchAttribute): string {
  return `temporal operator search-attribute create --namespace ${namespace} --name ${key.name} --type ${CLI_TYPE_NAMES[key.type] ?? key.type}`;
}

/** The IndexedValueType Temporal lists for a search attribute of this type. */
function indexedValueType(key: IdemSearchAttribute): number | undefined {
  return (temporal.api.enums.v1.IndexedValueType as unknown as Record<string, number>)[
    `INDEXED_VALUE_TYPE_${key.type}`
  ];
}

/**
 * idem's search attributes must exist in the namespace with their types, or Temporal rejects every
 * start (a missing IdemEventType, ...) or every upsert of a retrying event (a missing IdemStage,
 * ...), and the event would wait forever.
 */
export async function checkSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  const known = res.customAttributes ?? {};
  const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => known[k.name] === undefined);
  const wrongType = ALL_SEARCH_ATTRIBUTES.filter(
    (k) => known[k.name] !== undefined && known[k.name] !== indexedValueType(k),
  );
  if (missing.length === 0 && wrongType.length === 0) return;
  const lines: string[] = [];
  if (missing.length > 0)
    lines.push(
      `Temporal namespace "${namespace}" lacks idem's search attributes: ${missing.map((k) => k.name).join(', ')}.`,
      'Create them once (the local stack does this itself):',
      ...missing.map((k) => `  ${createSearchAttributeCommand(namespace, k)}`),
    );
  if (wrongType.length > 0)
    lines.push(
      `Temporal namespace "${namespace}" has idem's search attributes with another type: ` +
        wrongType.map((k) => `${k.name} must be ${CLI_TYPE_NAMES[k.type] ?? k.type}`).join(', ') +
        '. Remove each (temporal operator search-attribute remove --namespace ' +
        `${namespace} --name <name>) and create it again with its type.`,
    );
  throw new ConfigError(lines.join('\n'));
}
