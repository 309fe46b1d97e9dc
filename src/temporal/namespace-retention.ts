/**
 * Temporal's dedup window is the namespace's workflow retention: while it keeps a closed event
 * workflow, REJECT_DUPLICATE refuses a second run and an operator can still reset the run.
 * processed_events covers the time after it, and a reset run claims an event that has no row as a
 * first run does (activities/apply-event.ts): so the store must keep its rows at least as long as
 * Temporal keeps the workflows. The worker and `idem prune` check it at start.
 */
import type { Connection } from '@temporalio/client';
import { ConfigError } from '../errors';
import { formatRetention } from '../prune/duration';

/** The namespace's workflow execution retention in milliseconds. */
export async function namespaceRetentionMs(
  connection: Pick<Connection, 'workflowService'>,
  namespace: string,
): Promise<number> {
  const res = await connection.workflowService.describeNamespace({ namespace });
  const ttl = res.config?.workflowExecutionRetentionTtl;
  if (!ttl) throw new Error(`Temporal described namespace "${namespace}" without a workflow retention`);
  return Number(ttl.seconds ?? 0) * 1000 + Math.floor((ttl.nanos ?? 0) / 1e6);
}

/** A store retention shorter than Temporal's is a configuration error, with both fixes. */
export function checkDedupRetention(storeRetentionMs: number, namespaceMs: number, namespace: string): void {
  if (storeRetentionMs >= namespaceMs) return;
  throw new ConfigError(
    `Invalid configuration:\n  IDEM_DEDUP_RETENTION (${formatRetention(storeRetentionMs)}) is shorter than the ` +
      `workflow retention of Temporal namespace "${namespace}" (${formatRetention(namespaceMs)}). ` +
      'While Temporal keeps an event workflow an operator can reset it, and the reset run applies the ' +
      'event again once its processed_events row is pruned.\n' +
      `Set IDEM_DEDUP_RETENTION to at least ${formatRetention(namespaceMs)} (it must also exceed how far ` +
      'back a Kafka replay can read), or shorten the namespace retention: temporal operator namespace ' +
      `update --namespace ${namespace} --retention <duration>. See docs/operations.md, Pruning the dedup store.`,
  );
}

/** Reads the namespace retention and checks the store's against it. Returns the namespace's. */
export async function checkNamespaceRetention(
  connection: Pick<Connection, 'workflowService'>,
  namespace: string,
  storeRetentionMs: number,
): Promise<number> {
  const namespaceMs = await namespaceRetentionMs(connection, namespace);
  checkDedupRetention(storeRetentionMs, namespaceMs, namespace);
  return namespaceMs;
}
