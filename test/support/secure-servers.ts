/**
 * Real servers with TLS and SASL for the transport-security tests, each on ports of its own in a
 * temporary directory, beside the shared local stack (which they leave untouched):
 *
 * - PostgreSQL (the stack's binaries, a fresh initdb) with `ssl=on`, plaintext refused, and
 *   client-certificate authentication for one user;
 * - Kafka (the stack's jars, a fresh KRaft node) with SASL_PLAINTEXT and SASL_SSL listeners
 *   (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 users) and an SSL listener that requires a client
 *   certificate;
 * - a TLS front for Temporal: the Temporal dev server has no TLS flags, so a Node TLS listener
 *   (HTTP/2 ALPN, optional client-certificate check) terminates TLS and forwards to the stack's
 *   plaintext frontend. The client side (the SDK's TLS and mTLS) is real; the server side is not
 *   Temporal's own TLS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { defaultCacheDir } from '../../src/config';
import { ensureKafkaJars, kafkaClusterId } from '../../src/stack/kafka';
import { layoutFor } from '../../src/stack/layout';
import { serverBinDir } from '../../src/stack/postgres';
import { pkcs12, type Pem } from './certs';
import { freePort, startProcess, type OwnProcess } from './own-servers';
import { eventually } from './poll';

// --- PostgreSQL ----------------------------------------------------------------------------------

export interface TlsPostgres {
  port: number;
  /** A URL to database `db` as `user` on `host`, with `params` (sslmode, sslrootcert, …). */
  url(params: string, user?: string, db?: string, host?: string): string;
  stop(): Promise<void>;
}

/** The user PostgreSQL runs as: itself, or `postgres` when the tests run as root. */
function pgOwner(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0)
    throw new Error('run `node bin/idem.js stack up` once: it creates the postgres user');
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/** User whose login needs a client certificate with this common name (`cert` authentication). */
export const PG_CERT_USER = 'idem_cert';

export async function startTlsPostgres(server: Pem, ca: Pem): Promise<TlsPostgres> {
  const owner = pgOwner();
  // Its own directory, which the server's user owns: the key must be its own and 0600.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-pg-tls-'));
  const own = (f: string) => owner.uid !== undefined && fs.chownSync(f, owner.uid, owner.gid ?? owner.uid);
  own(dir);
  const copy = (from: string, name: string, mode: number) => {
    const to = path.join(dir, name);
    fs.copyFileSync(from, to);
    fs.chmodSync(to, mode);
    own(to);
    return to;
  };
  const cert = copy(server.cert, 'server.crt', 0o644);
  const key = copy(server.key, 'server.key', 0o600);
  const caFile = copy(ca.cert, 'ca.crt', 0o644);
  const data = path.join(dir, 'data');
  const bin = serverBinDir(owner);
  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale'],
    { stdio: 'ignore', ...owner },
  );
  fs.writeFileSync(
    path.join(data, 'pg_hba.conf'),
    [
      `hostssl all ${PG_CERT_USER} 127.0.0.0/8 cert`,
      'hostssl all all 127.0.0.0/8 trust',
      // Plaintext is refused: a connection that works went through TLS.
      'hostnossl all all 127.0.0.0/8 reject',
    ].join('\n') + '\n',
  );
  const port = await freePort();
  const p: OwnProcess = startProcess(
    path.join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      // 127.0.0.2 too: the same server under an address its certificate does not name.
      'listen_addresses=127.0.0.1,127.0.0.2',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=40',
      '-c',
      'ssl=on',
      '-c',
      `ssl_cert_file=${cert}`,
      '-c',
      `ssl_key_file=${key}`,
      '-c',
      `ssl_ca_file=${caFile}`,
    ],
    path.join(os.tmpdir(), `${path.basename(dir)}.log`),
    owner,
  );
  const url = (params: string, user = 'postgres', db = 'postgres', host = '127.0.0.1') =>
    `postgres://${user}@${host}:${port}/${db}${params ? `?${params}` : ''}`;
  const admin = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ connectionString: url(''), ssl: { rejectUnauthorized: false } });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  try {
    await eventually(
      async () => {
        if (p.child.exitCode !== null) throw new Error(`postgres exited: ${p.logTail()}`);
        return admin(async (c) => (await c.query('select 1')).rowCount === 1);
      },
      120_000,
      `PostgreSQL with TLS on port ${port}`,
      250,
    );
    await admin((c) => c.query(`create role ${PG_CERT_USER} login superuser`));
  } catch (err) {
    await p.stop(10_000, 'SIGINT');
    throw err;
  }
  return {
    port,
    url,
    async stop() {
      await p.stop(20_000, 'SIGINT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- Kafka ---------------------------------------------------------------------------------------

export interface SecureKafka {
  /** `host:port` of each listener. */
  saslPlaintext: string;
  saslSsl: string;
  /** TLS with a required client certificate. */
  mtls: string;
  /** Plaintext, for the test's own set-up only. */
  internal: string;
  users: { plain: Creds; scram256: Creds; scram512: Creds };
  /** A plaintext admin on the internal listener. */
  createTopics(topics: string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface Creds {
  username: string;
  password: string;
}

export async function startSecureKafka(server: Pem, ca: Pem): Promise<SecureKafka> {
  const libs = await ensureKafkaJars(layoutFor(defaultCacheDir(process.env)), () => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-kafka-secure-'));
  const secret = () => crypto.randomBytes(12).toString('hex');
  const users = {
    plain: { username: 'idem-plain', password: secret() },
    scram256: { username: 'idem-256', password: secret() },
    scram512: { username: 'idem-512', password: secret() },
  };
  const storePassword = secret();
  const keystore = pkcs12(dir, server, ca, 'kafka-server', storePassword);
  const [internal, sp, ss, mtls, controller] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
  const h = '127.0.0.1';
  const jaas = (listener: string) => [
    `listener.name.${listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${users.plain.username}="${users.plain.password}";`,
    `listener.name.${listener}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
  ];
  const props = path.join(dir, 'server.properties');
  fs.writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${h}:${controller}`,
      `listeners=INTERNAL://${h}:${internal},SASL_PLAINTEXT://${h}:${sp},SASL_SSL://${h}:${ss},SSL://${h}:${mtls},CONTROLLER://${h}:${controller}`,
      `advertised.listeners=INTERNAL://${h}:${internal},SASL_PLAINTEXT://${h}:${sp},SASL_SSL://${h}:${ss},SSL://${h}:${mtls}`,
      'listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=INTERNAL',
      'controller.listener.names=CONTROLLER',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      ...jaas('sasl_plaintext'),
      ...jaas('sasl_ssl'),
      'ssl.keystore.type=PKCS12',
      `ssl.keystore.location=${keystore}`,
      `ssl.keystore.password=${storePassword}`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${ca.cert}`,
      'listener.name.ssl.ssl.client.auth=required',
      `log.dirs=${path.join(dir, 'data')}`,
      'num.partitions=1',
      'auto.create.topics.enable=false',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=3',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
    ].join('\n') + '\n',
  );
  const log4j = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(
    log4j,
    [
      'appender.console.type = Console',
      'appender.console.name = STDOUT',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = warn',
      'rootLogger.appenderRef.stdout.ref = STDOUT',
    ].join('\n') + '\n',
  );
  const jvm = [`-Dlog4j2.configurationFile=${log4j}`, '-cp', `${libs}/*`];
  execFileSync(
    'java',
    [
      ...jvm,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      kafkaClusterId(),
      '-c',
      props,
      '--add-scram',
      `SCRAM-SHA-256=[name=${users.scram256.username},password=${users.scram256.password}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=${users.scram512.username},password=${users.scram512.password}]`,
    ],
    { stdio: 'ignore' },
  );
  const p = startProcess(
    'java',
    ['-Xms128m', '-Xmx384m', '-XX:+UseSerialGC', '-Djava.awt.headless=true', ...jvm, 'kafka.Kafka', props],
    path.join(dir, 'kafka.log'),
  );
  const plainAdmin = () =>
    new Kafka({
      clientId: 'idem-test-secure',
      brokers: [`${h}:${internal}`],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 3000,
    }).admin();
  try {
    await eventually(
      async () => {
        if (p.child.exitCode !== null) throw new Error(`kafka exited: ${p.logTail()}`);
        const admin = plainAdmin();
        try {
          await admin.connect();
          return (await admin.describeCluster()).brokers.length > 0;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      240_000,
      `a Kafka broker with SASL and TLS listeners (log: ${path.join(dir, 'kafka.log')})`,
      500,
    );
  } catch (err) {
    await p.stop();
    throw err;
  }
  return {
    saslPlaintext: `${h}:${sp}`,
    saslSsl: `${h}:${ss}`,
    mtls: `${h}:${mtls}`,
    internal: `${h}:${internal}`,
    users,
    async createTopics(topics) {
      const admin = plainAdmin();
      await admin.connect();
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: topics.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
        });
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      await p.stop(30_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- A TLS front for Temporal --------------------------------------------------------------------

export interface TlsFront {
  address: string;
  /** TLS handshakes the front refused (no client certificate, an unknown CA, …). */
  refused(): number;
  close(): Promise<void>;
}

/** Terminates TLS (HTTP/2 ALPN) on a port of its own and forwards the bytes to `target`. With
 * `requireClientCert`, a client must present a certificate signed by `ca` (mTLS). */
export async function startTlsFront(
  target: string,
  server: Pem,
  ca: Pem,
  opts: { requireClientCert: boolean },
): Promise<TlsFront> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  let refused = 0;
  const sockets = new Set<net.Socket>();
  const srv = tls.createServer(
    {
      key: fs.readFileSync(server.key),
      cert: fs.readFileSync(server.cert),
      ca: fs.readFileSync(ca.cert),
      requestCert: opts.requireClientCert,
      rejectUnauthorized: opts.requireClientCert,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      const upstream = net.connect(port, host);
      sockets.add(client).add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream).pipe(client);
    },
  );
  srv.on('tlsClientError', () => refused++);
  const listenPort = await freePort();
  await new Promise<void>((resolve) => srv.listen(listenPort, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${listenPort}`,
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}
