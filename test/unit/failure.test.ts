import { ApplicationFailure } from '@temporalio/common';
import { isStoreUnavailable, toApplicationFailure } from '../../src/activities/failure';
import { PermanentHandlerError, UnknownEventTypeError } from '../../src/errors';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

test.each([
  ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:25432', 'ECONNREFUSED'), true],
  ['connection reset', withCode('read ECONNRESET', 'ECONNRESET'), true],
  ['admin shutdown', withCode('terminating connection due to administrator command', '57P01'), true],
  ['connection exception class 08', withCode('connection failure', '08006'), true],
  ['too many connections', withCode('sorry, too many clients already', '53300'), true],
  ['pool: connection terminated', new Error('Connection terminated unexpectedly'), true],
  ['pool: connect timeout', new Error('timeout exceeded when trying to connect'), true],
  ['unique violation', withCode('duplicate key value violates unique constraint', '23505'), false],
  ['syntax error', withCode('syntax error at or near "selec"', '42601'), false],
  ['handler bug', new TypeError('cannot read properties of undefined'), false],
])('%s → %s', (_name, err, expected) => {
  expect(isStoreUnavailable(err)).toBe(expected);
});

test('failures carry reason, attempt and the outage flag to the workflow', () => {
  const down = toApplicationFailure(withCode('connect ECONNREFUSED', 'ECONNREFUSED'), 3);
  expect(down.nonRetryable).toBe(false);
  expect(down.details).toEqual([{ reason: 'handler_failed', attempt: 3, storeUnavailable: true }]);

  const unknown = toApplicationFailure(new UnknownEventTypeError('no handler'), 1);
  expect(unknown).toBeInstanceOf(ApplicationFailure);
  expect(unknown).toMatchObject({ type: 'UnknownEventTypeError', nonRetryable: true });
  expect(unknown.details).toEqual([{ reason: 'unknown_type', attempt: 1 }]);

  const permanent = toApplicationFailure(new PermanentHandlerError('refused'), 2);
  expect(permanent).toMatchObject({ type: 'PermanentHandlerError', nonRetryable: true });
  expect(permanent.details).toEqual([{ reason: 'handler_failed', attempt: 2 }]);
});
