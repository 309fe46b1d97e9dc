/**
 * Transport security from configuration, against real servers with TLS and SASL started by this
 * test on ports of their own (test/support/secure-servers.ts; the shared stack is untouched):
 * PostgreSQL `sslmode` from DATABASE_URL, Kafka SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with
 * and without TLS and Kafka mTLS, Temporal TLS and mTLS through a TLS front (the dev server has no
 * TLS of its own), and at the end one event through idem with every connection secured. Each
 * server refuses the insecure way in, so a connection that works went through TLS or SASL.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Partitioners } from 'kafkajs';
import { Client } from 'pg';
import { migrations as ledgerMigrations } from '../../examples/ledger';
import { createKafka, startIdem, type IdemProcess } from '../../src/app';
import { parseConfig, resolveEnv, type Config, type Env } from '../../src/config';
import { fatalStartError } from '../../src/dependencies';
import { dlqTopicFor } from '../../src/dlq/topic';
import { workflowIdFor } from '../../src/events/identity';
import { silentLogger } from '../../src/observability/logger';
import { pgConnectionConfig } from '../../src/store/tls';
import { temporalClient, temporalConnectionOptions } from '../../src/temporal/connection';
import { createTestDatabase, type TestDatabase } from '../../src/testing';
import { makeCa, makeCert, type Pem } from '../support/certs';
import { spawnIdem } from '../support/own-servers';
import { ceRecord, ledgerRegistry } from '../support/pipeline';
import { eventually } from '../support/poll';
import {
  PG_CERT_USER,
  startSecureKafka,
  startTlsFront,
  startTlsPostgres,
  type SecureKafka,
  type TlsFront,
  type TlsPostgres,
} from '../support/secure-servers';

let dir: string;
let ca: Pem;
let otherCa: Pem;
let pgCert: Pem;
let kafkaCert: Pem;
let temporalCert: Pem;
let pgClientCert: Pem;
let idemClientCert: Pem;
let strangerCert: Pem;
const stackTemporal = resolveEnv().TEMPORAL_ADDRESS ?? '127.0.0.1:27233';
const TEMPORAL_NAME = 'temporal.idem.test';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-transport-'));
  ca = makeCa(dir, 'idem-test-ca');
  otherCa = makeCa(dir, 'unrelated-ca');
  // PostgreSQL's certificate names 127.0.0.1 only; the server also listens on 127.0.0.2.
  pgCert = makeCert(dir, ca, 'pg-server', 'pg.idem.test', ['IP:127.0.0.1']);
  kafkaCert = makeCert(dir, ca, 'kafka-server', 'kafka.idem.test', ['IP:127.0.0.1', 'DNS:localhost']);
  // Temporal's names no address: clients must check it under TEMPORAL_TLS_SERVER_NAME.
  temporalCert = makeCert(dir, ca, 'temporal-server', TEMPORAL_NAME, [`DNS:${TEMPORAL_NAME}`]);
  pgClientCert = makeCert(dir, ca, 'pg-client', PG_CERT_USER);
  idemClientCert = makeCert(dir, ca, 'idem-client', 'idem');
  strangerCert = makeCert(dir, otherCa, 'stranger', 'idem');
}, 60_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const configOf = (env: Env): Config => parseConfig({ IDEM_METRICS_PORT: '0', ...env });

describe('PostgreSQL: sslmode from DATABASE_URL', () => {
  let pg: TlsPostgres;
  beforeAll(async () => {
    pg = await startTlsPostgres(pgCert, ca);
  }, 180_000);
  afterAll(async () => {
    await pg?.stop();
  });

  /** Connects with idem's settings for `url` (through configuration, as idem does); the
   * connection's TLS state as the server sees it. */
  async function connect(url: string): Promise<{ ssl: boolean; user: string }> {
    const c = new Client({
      ...pgConnectionConfig(configOf({ DATABASE_URL: url }).database.url),
      connectionTimeoutMillis: 10_000,
    });
    await c.connect();
    try {
      const r = await c.query<{ ssl: boolean; user: string }>(
        'select ssl, current_user as user from pg_stat_ssl where pid = pg_backend_pid()',
      );
      return r.rows[0] as { ssl: boolean; user: string };
    } finally {
      await c.end();
    }
  }

  test('this server refuses plaintext: no sslmode and sslmode=disable fail', async () => {
    await expect(connect(pg.url(''))).rejects.toThrow(/pg_hba.conf rejects connection.*no encryption/);
    await expect(connect(pg.url('sslmode=disable'))).rejects.toThrow(/no encryption/);
  });

  test('sslmode=require: TLS without checking the certificate; with sslrootcert the chain is checked', async () => {
    expect(await connect(pg.url('sslmode=require'))).toEqual({ ssl: true, user: 'postgres' });
    expect(await connect(pg.url(`sslmode=require&sslrootcert=${ca.cert}`))).toMatchObject({ ssl: true });
    await expect(connect(pg.url(`sslmode=require&sslrootcert=${otherCa.cert}`))).rejects.toThrow(
      /self-signed|unable to verify|certificate/i,
    );
  });

  test('verify-ca checks the chain, not the host name; verify-full checks both', async () => {
    const verify = (mode: string, root: Pem, host = '127.0.0.1') =>
      connect(pg.url(`sslmode=${mode}&sslrootcert=${root.cert}`, 'postgres', 'postgres', host));
    expect(await verify('verify-full', ca)).toMatchObject({ ssl: true });
    expect(await verify('verify-ca', ca, '127.0.0.2')).toMatchObject({ ssl: true });
    await expect(verify('verify-full', ca, '127.0.0.2')).rejects.toThrow(
      /does not match|altnames|127\.0\.0\.2/i,
    );
    await expect(verify('verify-ca', otherCa)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
    await expect(verify('verify-full', otherCa)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  test('a client certificate (sslcert, sslkey) logs in a user whose login requires one', async () => {
    const base = `sslmode=verify-full&sslrootcert=${ca.cert}`;
    expect(
      await connect(pg.url(`${base}&sslcert=${pgClientCert.cert}&sslkey=${pgClientCert.key}`, PG_CERT_USER)),
    ).toEqual({
      ssl: true,
      user: PG_CERT_USER,
    });
    await expect(connect(pg.url(base, PG_CERT_USER))).rejects.toThrow(/certificate/i);
  });

  test('the built `idem migrate` applies the schema over TLS from DATABASE_URL alone', async () => {
    const admin = new Client({ ...pgConnectionConfig(pg.url('sslmode=require')) });
    await admin.connect();
    await admin.query('create database idem_tls');
    await admin.end();
    const migrate = spawnIdem(['migrate'], {
      DATABASE_URL: pg.url(`sslmode=verify-full&sslrootcert=${ca.cert}`, 'postgres', 'idem_tls'),
      IDEM_LOG_LEVEL: 'warn',
    });
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toMatch(/applied idem\/001_init/);
    // The same URL with a CA that did not sign the server's certificate stops it.
    const refused = spawnIdem(['migrate'], {
      DATABASE_URL: pg.url(`sslmode=verify-full&sslrootcert=${otherCa.cert}`, 'postgres', 'idem_tls'),
    });
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(/self-signed|unable to verify|certificate/i);
  }, 60_000);
});

describe('Kafka: SASL and TLS', () => {
  let kafka: SecureKafka;
  const topic = `t-secure-${crypto.randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    kafka = await startSecureKafka(kafkaCert, ca);
    await kafka.createTopics([topic]);
  }, 300_000);
  afterAll(async () => {
    await kafka?.stop();
  });

  /** Produces one record and reads the topic's offsets with idem's Kafka client for `env`. */
  async function roundTrip(env: Env): Promise<string> {
    const client = createKafka(configOf(env), silentLogger, 'idem-test');
    const producer = client.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 1 },
    });
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ value: 'secured' }] });
    } finally {
      await producer.disconnect();
    }
    const admin = client.admin({ retry: { retries: 1 } });
    await admin.connect();
    try {
      return (await admin.fetchTopicOffsets(topic))[0]?.high ?? '';
    } finally {
      await admin.disconnect();
    }
  }
  const sasl = (mechanism: string, c: { username: string; password: string }) => ({
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: c.username,
    KAFKA_SASL_PASSWORD: c.password,
  });

  test.each([
    ['plain', 'plain'],
    ['scram-sha-256', 'scram256'],
    ['scram-sha-512', 'scram512'],
  ] as const)(
    'SASL %s over SASL_PLAINTEXT',
    async (mechanism, user) => {
      const high = await roundTrip({
        KAFKA_BROKERS: kafka.saslPlaintext,
        ...sasl(mechanism, kafka.users[user]),
      });
      expect(Number(high)).toBeGreaterThan(0);
    },
    60_000,
  );

  test('a wrong password is refused, and start-up reports it as a credentials problem to fix', async () => {
    const err = await roundTrip({
      KAFKA_BROKERS: kafka.saslPlaintext,
      ...sasl('scram-sha-512', { username: kafka.users.scram512.username, password: 'not-the-password' }),
    }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('KafkaJSSASLAuthenticationError');
    expect(fatalStartError('Kafka', err)?.message).toMatch(/^Kafka refused idem's credentials/);
    // A SCRAM user is not a PLAIN user: the mechanism matters too.
    await expect(
      roundTrip({ KAFKA_BROKERS: kafka.saslPlaintext, ...sasl('plain', kafka.users.scram512) }),
    ).rejects.toThrow(/SASL PLAIN authentication failed|Authentication failed/i);
  }, 60_000);

  test('SASL_SSL with SCRAM-SHA-512: works with KAFKA_SSL_CA_PATH, refused with an unrelated CA', async () => {
    const env = { KAFKA_BROKERS: kafka.saslSsl, ...sasl('scram-sha-512', kafka.users.scram512) };
    expect(Number(await roundTrip({ ...env, KAFKA_SSL_CA_PATH: ca.cert }))).toBeGreaterThan(0);
    await expect(roundTrip({ ...env, KAFKA_SSL_CA_PATH: otherCa.cert })).rejects.toThrow(
      /self-signed|unable to verify|certificate|Connection error/i,
    );
    // Without SSL the SASL_SSL port does not answer a plaintext client.
    await expect(roundTrip(env)).rejects.toThrow();
  }, 90_000);

  test('mTLS: the SSL listener takes a client certificate signed by the CA, and nothing else', async () => {
    const env = { KAFKA_BROKERS: kafka.mtls, KAFKA_SSL_CA_PATH: ca.cert };
    const withCert = {
      ...env,
      KAFKA_SSL_CERT_PATH: idemClientCert.cert,
      KAFKA_SSL_KEY_PATH: idemClientCert.key,
    };
    expect(Number(await roundTrip(withCert))).toBeGreaterThan(0);
    await expect(roundTrip(env)).rejects.toThrow();
    await expect(
      roundTrip({ ...env, KAFKA_SSL_CERT_PATH: strangerCert.cert, KAFKA_SSL_KEY_PATH: strangerCert.key }),
    ).rejects.toThrow();
  }, 90_000);
});

describe('Temporal: TLS and mTLS (through a TLS front of the dev server)', () => {
  let front: TlsFront;
  beforeAll(async () => {
    front = await startTlsFront(stackTemporal, temporalCert, ca, { requireClientCert: true });
  });
  afterAll(async () => {
    await front?.close();
  });

  const secured = (extra: Env = {}): Env => ({
    TEMPORAL_ADDRESS: front.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
    TEMPORAL_TLS_CLIENT_CERT_PATH: idemClientCert.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: idemClientCert.key,
    TEMPORAL_TLS_SERVER_NAME: TEMPORAL_NAME,
    ...extra,
  });

  /** The client's (grpc-js) and the worker's (Rust core) connections, each asking for the namespace. */
  async function both(env: Env): Promise<string[]> {
    const options = { ...temporalConnectionOptions(configOf(env)), connectTimeout: 5_000 };
    const client = await Connection.connect(options);
    try {
      const ns = await client.workflowService.describeNamespace({ namespace: 'default' });
      const native = await NativeConnection.connect(options);
      try {
        const sys = await native.workflowService.getSystemInfo({});
        return [ns.namespaceInfo?.name ?? '', sys.serverVersion ? 'native ok' : ''];
      } finally {
        await native.close();
      }
    } finally {
      await client.close();
    }
  }

  test('with the CA, a client certificate and the server name, both SDK connections work', async () => {
    expect(await both(secured())).toEqual(['default', 'native ok']);
  }, 60_000);

  test.each([
    [
      'no client certificate',
      (): Env => secured({ TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' }),
    ],
    [
      'a client certificate of an unrelated CA',
      (): Env =>
        secured({
          TEMPORAL_TLS_CLIENT_CERT_PATH: strangerCert.cert,
          TEMPORAL_TLS_CLIENT_KEY_PATH: strangerCert.key,
        }),
    ],
    [
      'an unrelated CA for the server',
      (): Env => secured({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCa.cert }),
    ],
    [
      'no server name (the certificate does not name 127.0.0.1)',
      (): Env => secured({ TEMPORAL_TLS_SERVER_NAME: '' }),
    ],
  ])(
    'refused: %s',
    async (_what, env) => {
      await expect(both(env())).rejects.toThrow();
    },
    60_000,
  );

  test('a plaintext client gets nowhere', async () => {
    await expect(
      Connection.connect({ address: front.address, connectTimeout: 3_000 }).then((c) => c.close()),
    ).rejects.toThrow();
  }, 30_000);
});

test('one event through idem with every connection secured: Kafka SASL_SSL (SCRAM), Temporal mTLS, PostgreSQL verify-full', async () => {
  const [kafka, pg, front] = await Promise.all([
    startSecureKafka(kafkaCert, ca),
    startTlsPostgres(pgCert, ca),
    startTlsFront(stackTemporal, temporalCert, ca, { requireClientCert: true }),
  ]);
  const suffix = crypto.randomBytes(4).toString('hex');
  const topic = `t-e2e-secure-${suffix}`;
  let db: TestDatabase | undefined;
  let proc: IdemProcess | undefined;
  let connection: Connection | undefined;
  try {
    await kafka.createTopics([topic, dlqTopicFor(topic), `${topic}.outbox`]);
    db = await createTestDatabase({
      baseUrl: pg.url(`sslmode=verify-full&sslrootcert=${ca.cert}`),
      prefix: 'secure',
      migrations: ledgerMigrations ? [ledgerMigrations] : [],
    });
    const config = configOf({
      KAFKA_BROKERS: kafka.saslSsl,
      KAFKA_SSL_CA_PATH: ca.cert,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: kafka.users.scram512.username,
      KAFKA_SASL_PASSWORD: kafka.users.scram512.password,
      KAFKA_TOPICS: topic,
      KAFKA_GROUP_ID: `g-secure-${suffix}`,
      IDEM_OUTBOX_TOPIC: `${topic}.outbox`,
      TEMPORAL_ADDRESS: front.address,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
      TEMPORAL_TLS_CLIENT_CERT_PATH: idemClientCert.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: idemClientCert.key,
      TEMPORAL_TLS_SERVER_NAME: TEMPORAL_NAME,
      TEMPORAL_TASK_QUEUE: `tq-secure-${suffix}`,
      DATABASE_URL: db.url,
      IDEM_ENCRYPTION_KEYS: `k1:${crypto.randomBytes(32).toString('base64')}`,
      IDEM_LOG_LEVEL: 'warn',
    });
    expect(db.url).toContain('sslmode=verify-full');
    proc = await startIdem({
      config,
      logger: silentLogger,
      roles: ['ingester', 'worker', 'relay'],
      registry: ledgerRegistry(),
      serveMetrics: false,
    });
    const source = `test-secure-${suffix}`;
    const ev = {
      id: crypto.randomUUID(),
      type: 'account.credited',
      data: { account: `acct-${suffix}`, amount: 700 },
    };
    const producer = createKafka(config, silentLogger, 'idem-test-producer').producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    await producer.send({ topic, messages: [ceRecord(source, ev, ev.data.account)] });
    await producer.disconnect();
    await eventually(
      async () =>
        (await db!.pool.query('select balance from account_balances where account = $1', [ev.data.account]))
          .rows[0]?.balance === '700',
      90_000,
      'the effect in PostgreSQL over TLS',
    );
    connection = await Connection.connect(temporalConnectionOptions(config));
    const result = await temporalClient(config, connection)
      .workflow.getHandle(workflowIdFor(source, ev.id))
      .result();
    expect(result).toMatchObject({ outcome: 'applied' });
  } finally {
    await connection?.close();
    await proc?.stop();
    await db?.drop().catch(() => undefined);
    await Promise.all([kafka.stop(), pg.stop(), front.close()]);
  }
}, 480_000);
