import { ApplicationFailure } from '@temporalio/common';
import type { PoolClient } from 'pg';
import { isStoreUnavailable, toApplicationFailure } from '../../src/activities/failure';
import { ClaimHeldError, PermanentHandlerError, UnknownEventTypeError } from '../../src/errors';
import { markStoreError, tagStoreErrors } from '../../src/store/store-error';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
/** As the store's connection raises it (store-error.ts). */
const fromStore = (err: Error) => markStoreError(err);

test.each([
  ['connection refused', fromStore(withCode('connect ECONNREFUSED 127.0.0.1:25432', 'ECONNREFUSED')), true],
  ['connection reset', fromStore(withCode('read ECONNRESET', 'ECONNRESET')), true],
  [
    'admin shutdown',
    fromStore(withCode('terminating connection due to administrator command', '57P01')),
    true,
  ],
  ['connection exception class 08', fromStore(withCode('connection failure', '08006')), true],
  ['too many connections', fromStore(withCode('sorry, too many clients already', '53300')), true],
  ['pool: connection terminated', fromStore(new Error('Connection terminated unexpectedly')), true],
  ['pool: connect timeout', fromStore(new Error('timeout exceeded when trying to connect')), true],
  ['unique violation', fromStore(withCode('duplicate key value violates unique constraint', '23505')), false],
  ['syntax error', fromStore(withCode('syntax error at or near "selec"', '42601')), false],
  ['handler bug', fromStore(new TypeError('cannot read properties of undefined')), false],
  ['pg query_timeout: no answer', fromStore(new Error('Query read timeout')), true],
  // the same failures from a handler's own call to another service are the handler's
  ['handler HTTP call refused', withCode('connect ECONNREFUSED 10.0.0.7:443', 'ECONNREFUSED'), false],
  ['handler DNS failure', withCode('getaddrinfo ENOTFOUND api.example', 'ENOTFOUND'), false],
  ['handler HTTP timeout', withCode('connect ETIMEDOUT 10.0.0.7:443', 'ETIMEDOUT'), false],
])('%s → %s', (_name, err, expected) => {
  expect(isStoreUnavailable(err)).toBe(expected);
});

test('failures carry reason, attempt and the outage flag to the workflow', () => {
  const down = toApplicationFailure(fromStore(withCode('connect ECONNREFUSED', 'ECONNREFUSED')), 3);
  expect(down.nonRetryable).toBe(false);
  expect(down.details).toEqual([{ reason: 'handler_failed', attempt: 3, storeUnavailable: true }]);

  // another attempt holds the claim: back to the workflow at once (no attempt spent), flagged
  const held = toApplicationFailure(new ClaimHeldError('held'), 1);
  expect(held).toMatchObject({ type: 'ClaimHeldError', nonRetryable: true });
  expect(held.details).toEqual([{ reason: 'handler_failed', attempt: 1, claimHeld: true }]);

  // a data exception of the store's connection fails alike every time: not retried
  const data = toApplicationFailure(
    fromStore(withCode('value too long for type character varying(8)', '22001')),
    1,
  );
  expect(data).toMatchObject({ nonRetryable: true });
  expect(data.details).toEqual([{ reason: 'handler_failed', attempt: 1 }]);
  // the same code from a handler's own client (another database) is the handler's to judge
  expect(toApplicationFailure(withCode('value too long', '22001'), 1).nonRetryable).toBe(false);

  const unknown = toApplicationFailure(new UnknownEventTypeError('no handler'), 1);
  expect(unknown).toBeInstanceOf(ApplicationFailure);
  expect(unknown).toMatchObject({ type: 'UnknownEventTypeError', nonRetryable: true });
  expect(unknown.details).toEqual([{ reason: 'unknown_type', attempt: 1 }]);

  const permanent = toApplicationFailure(new PermanentHandlerError('refused'), 2);
  expect(permanent).toMatchObject({ type: 'PermanentHandlerError', nonRetryable: true });
  expect(permanent.details).toEqual([{ reason: 'handler_failed', attempt: 2 }]);
});

test('a client tagged as the store marks the rejections of its statements, once however often it is tagged', async () => {
  const refused = withCode('connect ECONNREFUSED 127.0.0.1:25432', 'ECONNREFUSED');
  let calls = 0;
  const client = {
    query: (..._args: unknown[]) => {
      calls++;
      return Promise.reject(refused);
    },
  } as unknown as PoolClient;
  expect(isStoreUnavailable(refused)).toBe(false);
  tagStoreErrors(tagStoreErrors(client));
  await expect(client.query('select 1')).rejects.toBe(refused);
  expect(calls).toBe(1);
  expect(isStoreUnavailable(refused)).toBe(true);
});
