/** The pure parts of `idem prune`: retention durations, how long a topic keeps a record, the
 * store-versus-namespace check, and the kubeconform schema names the deployment tests rely on. */
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/config';
import { keepsAtMostMs, RETENTION_SLACK_MS } from '../../src/kafka/topic-retention';
import { formatRetention, parseRetention } from '../../src/prune/duration';
import { schemaFileName, schemasFromCrd } from '../../src/stack/k8s-tools';
import { checkDedupRetention } from '../../src/temporal/namespace-retention';

const DAY = 86_400_000;

test('retention durations: units, combinations, and refusals', () => {
  expect(parseRetention('30d')).toBe(30 * DAY);
  expect(parseRetention('720h')).toBe(30 * DAY);
  expect(parseRetention('1d12h')).toBe(1.5 * DAY);
  expect(parseRetention(' 1d 12h ')).toBe(1.5 * DAY);
  expect(parseRetention('90m')).toBe(90 * 60_000);
  expect(parseRetention('500ms')).toBe(500);
  for (const bad of ['', '30', 'd', '1w', '-1d', '1.5d', '30 days'])
    expect([bad, parseRetention(bad)]).toEqual([bad, undefined]);
  expect(formatRetention(30 * DAY)).toBe('30d');
  expect(formatRetention(36 * 3_600_000)).toBe('1d 12h');
  expect(formatRetention(14 * DAY + 3_600_000)).toBe('14d 1h');
  expect(formatRetention(90_000)).toBe('1m 30s');
  expect(formatRetention(250)).toBe('250ms');
});

test('IDEM_DEDUP_RETENTION and IDEM_PRUNE_BATCH_SIZE: defaults, values, and the message for a bad one', () => {
  expect(parseConfig({}).dedup).toEqual({ retentionMs: 30 * DAY, pruneBatchSize: 5000 });
  expect(parseConfig({ IDEM_DEDUP_RETENTION: '90d', IDEM_PRUNE_BATCH_SIZE: '100' }).dedup).toEqual({
    retentionMs: 90 * DAY,
    pruneBatchSize: 100,
  });
  expect(() => parseConfig({ IDEM_DEDUP_RETENTION: '30' })).toThrow(
    /IDEM_DEDUP_RETENTION: expected a duration such as 30d, 720h or 1d12h \(got "30"\)/,
  );
  expect(() => parseConfig({ IDEM_PRUNE_BATCH_SIZE: '0' })).toThrow(/IDEM_PRUNE_BATCH_SIZE/);
});

test('how long a topic may keep a record: retention + segment + slack; for ever without time deletion', () => {
  expect(keepsAtMostMs(7 * DAY, 7 * DAY, 'delete')).toBe(14 * DAY + RETENTION_SLACK_MS);
  expect(keepsAtMostMs(7 * DAY, DAY, 'compact,delete')).toBe(8 * DAY + RETENTION_SLACK_MS);
  expect(keepsAtMostMs(null, DAY, 'delete')).toBeNull();
  expect(keepsAtMostMs(7 * DAY, DAY, 'compact')).toBeNull();
});

test('a store retention shorter than the namespace retention is a configuration error naming both fixes', () => {
  expect(() => checkDedupRetention(7 * DAY, 7 * DAY, 'default')).not.toThrow();
  expect(() => checkDedupRetention(30 * DAY, 7 * DAY, 'default')).not.toThrow();
  let err: unknown;
  try {
    checkDedupRetention(3 * DAY, 7 * DAY, 'payments');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const msg = (err as Error).message;
  expect(msg).toMatch(
    /IDEM_DEDUP_RETENTION \(3d\) is shorter than the workflow retention of Temporal namespace "payments" \(7d\)/,
  );
  expect(msg).toMatch(/Set IDEM_DEDUP_RETENTION to at least 7d/);
  expect(msg).toMatch(/temporal operator namespace update --namespace payments --retention/);
});

test("kubeconform's schema file names, and a CRD's versions made strict below the root", () => {
  expect(schemaFileName('Deployment', 'apps', 'v1')).toBe('deployment-apps-v1.json');
  expect(schemaFileName('ConfigMap', '', 'v1')).toBe('configmap-v1.json');
  expect(schemaFileName('ServiceMonitor', 'monitoring.coreos.com', 'v1')).toBe(
    'servicemonitor-monitoring-v1.json',
  );
  const schemas = schemasFromCrd({
    spec: {
      group: 'example.com',
      names: { kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', properties: { port: { format: 'int-or-string' } } },
              },
            },
          },
        },
      ],
    },
  });
  expect([...schemas.keys()]).toEqual(['widget-example-v1.json']);
  expect(schemas.get('widget-example-v1.json')).toEqual({
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: { port: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
        additionalProperties: false,
      },
    },
  });
});
