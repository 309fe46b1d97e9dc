/**
 * The activities of the processEvent and pruneDedupStore workflows, built from injected dependencies
 * (nothing connects at import time): the worker wires a real pool and Kafka producer, tests their own.
 * Workflows import only the type: `import type { Activities } from '../activities'`.
 */
import type { Pool } from 'pg';

import type { DlqPublisher } from '../dlq/publisher';
import { createApplyEvent, type ApplyEventMetrics } from './apply-event';
import { createDeadLetter, type DeadLetterMetrics } from './dead-letter';
import type { HandlerRegistry } from './handlers/registry';
import type { WarmUpProbe } from '../workflows/types';
import { createPruneProcessedEvents, type PruneActivityDeps } from './prune';

export type ActivityMetrics = ApplyEventMetrics & DeadLetterMetrics;

export interface ActivityDeps {
  pool: Pool;
  /** Handlers of the event types this worker applies. */
  registry: HandlerRegistry;
  /** Where deadLetter publishes (`<topic>.dlq`). */
  dlq: DlqPublisher;
  /** `IDEM_MAX_EVENT_BYTES`, the same limit the ingester applies. */
  maxEventBytes: number;
  /** `IDEM_OUTBOX_TOPIC`: where emitted events go unless they name a topic. */
  outboxTopic: string;
  /** CloudEvents `source` of emitted events unless they name one. @default idem */
  outboxSource?: string;
  /** Counters (`applied{type}`, `duplicates{layer}`, `deadLettered{reason,stage}`); the Metrics of
   * src/observability/metrics.ts fits. */
  metrics?: ActivityMetrics;
  /** Told of each event this worker settles (applied, or marked dead-lettered), once committed:
   * `idem consume` tells its own ingester (src/ingest/settlement.ts), so ordering's wait on a key
   * ends without a store query. */
  settled?: (dedupKey: string, as: 'applied' | 'dead_lettered') => void;
  /** What pruneProcessedEvents needs (the dedup store's scheduled prune); without it the activity
   * fails, not retried. */
  prune?: PruneActivityDeps;
}

export function createActivities(deps: ActivityDeps) {
  return {
    applyEvent: createApplyEvent(deps),
    deadLetter: createDeadLetter(deps),
    pruneProcessedEvents: createPruneProcessedEvents(deps.prune),
    /** The warm-up workflow's local activity: hands its argument back, touching nothing. */
    warmUp: async (probe: WarmUpProbe): Promise<WarmUpProbe> => probe,
  };
}

export type Activities = ReturnType<typeof createActivities>;
