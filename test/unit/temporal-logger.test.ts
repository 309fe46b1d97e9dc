import { temporalSdkLogger } from '../../src/observability/temporal-logger';
import { captureLogs } from '../support/log-capture';

const capture = () => captureLogs();

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
