import * as errors from '../../src/errors';
import { ConfigError as ConfigErrorFromConfig } from '../../src/config';

const classes = Object.values(errors).filter(
  (v): v is typeof errors.IdemError => typeof v === 'function' && v.prototype instanceof Error,
);

test('every error class of idem is an IdemError', () => {
  for (const c of classes)
    expect(c === errors.IdemError || c.prototype instanceof errors.IdemError).toBe(true);
  expect(classes.length).toBeGreaterThan(10);
});

test('the workflow never retries exactly the event-rejection classes', () => {
  const rejections = classes
    .filter((c) => c === errors.EventRejectedError || c.prototype instanceof errors.EventRejectedError)
    .map((c) => c.name)
    .sort();
  expect([...errors.NON_RETRYABLE_TYPES].sort()).toEqual(rejections);
  expect(rejections).toEqual(
    expect.arrayContaining(['InvalidEnvelopeError', 'InvalidPayloadError', 'PermanentHandlerError']),
  );
});

test("an error's name is its class name and its retry flag follows its branch", () => {
  const e = new errors.UnknownEventTypeError('no handler');
  expect(e.name).toBe('UnknownEventTypeError');
  expect(e.retriable).toBe(false);
  expect(new errors.StoppedError('stopping').retriable).toBe(true);
  expect(new errors.SequencerAbandonedError('k').message).toContain('"k"');
});

test('errors a user fixes are UserErrors (the CLI prints their message alone)', () => {
  for (const c of [
    errors.ConfigError,
    errors.HandlersModuleError,
    errors.InvalidArgumentError,
    errors.StackError,
  ])
    expect(new c('x')).toBeInstanceOf(errors.UserError);
  expect(ConfigErrorFromConfig).toBe(errors.ConfigError);
});
