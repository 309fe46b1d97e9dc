/** Temporal's status of workflows by ID, asked a few at a time (describe reads the server's own
 * record, not the eventually consistent visibility store). */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

/** Each workflow's status name (`RUNNING`, `COMPLETED`, ...), or `NOT_FOUND`. */
export async function workflowStatuses(
  client: Client,
  workflowIds: readonly string[],
  concurrency = 8,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < workflowIds.length) {
      const id = workflowIds[next++] as string;
      try {
        out.set(id, (await client.workflow.getHandle(id).describe()).status.name);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        out.set(id, 'NOT_FOUND');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, workflowIds.length) }, worker));
  return out;
}
