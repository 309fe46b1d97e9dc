import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger';
import { temporalSdkLogger } from '../../src/observability/temporal-logger';

function capture() {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    logger: createLogger('info', 'test', sink),
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test("the SDK's lines are single JSON lines, and a failure repeated every attempt is logged once per interval", () => {
  const { logger, lines } = capture();
  let now = 0;
  const sdk = temporalSdkLogger(logger, 'WARN', { now: () => now });
  for (let i = 0; i < 500; i++) {
    sdk.warn('Activity failed', {
      activityType: 'applyEvent',
      attempt: i,
      workflowId: `event:s:${i}`,
      error: new Error(`connect ECONNREFUSED 127.0.0.1:${25_000 + (i % 3)}`),
    });
    now += 20;
  }
  sdk.warn('Activity failed', { activityType: 'deadLetter', error: new Error('broker down') });
  sdk.info('below the level', {});
  expect(lines()).toHaveLength(2);
  expect(lines()[0]).toMatchObject({
    component: 'temporal-sdk',
    msg: 'Activity failed',
    activityType: 'applyEvent',
  });
  expect((lines()[0]?.err as { message: string }).message).toMatch(/ECONNREFUSED/);
  now = 10_000;
  sdk.warn('Activity failed', {
    activityType: 'applyEvent',
    error: new Error('connect ECONNREFUSED 127.0.0.1:25000'),
  });
  expect(lines()[2]).toMatchObject({ msg: 'Activity failed', suppressed: 499 });
});
