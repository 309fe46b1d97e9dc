/**
 * Builds, before the first event, the protobuf codecs that the start of a workflow and a
 * worker's tasks use. protobufjs generates each message type's encoder and decoder the first
 * time one is used; on the first events after start-up that kept the main thread busy for
 * a few hundred milliseconds, so they waited. Doing it at start-up costs about 100 ms there.
 */
import * as proto from '@temporalio/proto';

/** What this needs of a protobufjs reflected message type. */
interface ReflectedType {
  fieldsArray: { resolve(): { resolvedType: unknown } }[];
  setup(): unknown;
}

const isType = (t: unknown): t is ReflectedType =>
  typeof t === 'object' &&
  t !== null &&
  'fieldsArray' in t &&
  typeof (t as { setup?: unknown }).setup === 'function';

/** The messages of the common path: a start and its answer, a workflow activation and its
 * completion, an activity task and its completion. */
const ROOTS: unknown[] = [
  proto.temporal.api.workflowservice.v1.StartWorkflowExecutionRequest,
  proto.temporal.api.workflowservice.v1.StartWorkflowExecutionResponse,
  proto.coresdk.workflow_activation.WorkflowActivation,
  proto.coresdk.workflow_completion.WorkflowActivationCompletion,
  proto.coresdk.activity_task.ActivityTask,
  proto.coresdk.ActivityTaskCompletion,
];

/** Generates the codecs of the roots' message types and of every type they contain. Returns
 * how many types it set up. */
export function warmProtobufCodecs(roots: unknown[] = ROOTS): number {
  const seen = new Set<ReflectedType>();
  const visit = (t: unknown): void => {
    if (!isType(t) || seen.has(t)) return;
    seen.add(t);
    for (const field of t.fieldsArray) visit(field.resolve().resolvedType);
  };
  for (const root of roots) visit(root);
  for (const t of seen) t.setup();
  return seen.size;
}
