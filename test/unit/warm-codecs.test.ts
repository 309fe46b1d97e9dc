/**
 * The start-up warm-up of protobuf codecs: every message type the common path encodes or decodes
 * has its generated codec before the first event, including the types nested in the roots.
 */
import * as proto from '@temporalio/proto';
import { warmProtobufCodecs } from '../../src/temporal/warm-codecs';

/** protobufjs puts a type's generated encode and decode on the type itself when it sets it up;
 * until then they are the prototype's, which set it up on the first call. */
const built = (t: object) => Object.prototype.hasOwnProperty.call(t, 'decode');

test('the codecs of the start, activation and activity messages, nested ones included, are built', () => {
  const start = proto.temporal.api.workflowservice.v1.StartWorkflowExecutionRequest as unknown as object;
  const nested = proto.temporal.api.common.v1.SearchAttributes as unknown as object;
  const activation = proto.coresdk.workflow_activation.WorkflowActivation as unknown as object;
  const unrelated = proto.temporal.api.workflowservice.v1.ListNamespacesRequest as unknown as object;
  expect([start, nested, activation].map(built)).toEqual([false, false, false]);

  expect(warmProtobufCodecs()).toBeGreaterThan(100);
  expect([start, nested, activation].map(built)).toEqual([true, true, true]);
  expect(built(unrelated)).toBe(false); // only what the common path uses
});
