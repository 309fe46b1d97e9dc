/** `idem inspect`'s "last failure" line: the cause's message once, not twice. */
import { ApplicationFailure } from '@temporalio/common';
import { failureLine } from '../../src/cli/inspect';

test("a handler's error wrapped with the same message is said once", () => {
  const handlerError = new Error('the transaction was rolled back at commit');
  handlerError.name = 'TransactionRolledBackError';
  const failure = ApplicationFailure.create({ message: handlerError.message, cause: handlerError });
  expect(failureLine(failure, undefined)).toBe(
    'ApplicationFailure: the transaction was rolled back at commit',
  );
});

test('a cause that adds something is kept', () => {
  const failure = ApplicationFailure.create({
    message: 'applyEvent failed',
    cause: new Error('connection refused'),
  });
  expect(failureLine(failure, undefined)).toBe('ApplicationFailure: applyEvent failed: connection refused');
});

test('a failure that could not be decoded shows its own message', () => {
  expect(failureLine(undefined, 'raw message')).toBe('Failure: raw message');
  expect(failureLine(undefined, null)).toBe('Failure: ');
});
