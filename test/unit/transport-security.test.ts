/**
 * Configuration of payload encryption and transport security, and its mapping to what the clients
 * take: kafkajs's `ssl`/`sasl`, the Temporal SDK's `tls` and data converter, pg's `ssl`. The real
 * handshakes are in test/integration/transport-security.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfig, type Env } from '../../src/config';
import { kafkaSecurityOptions } from '../../src/kafka/security';
import { redactSecrets } from '../../src/observability/redact';
import { pgConnectionConfig, pgTlsProblems } from '../../src/store/tls';
import {
  encryptionCodec,
  temporalConnectionOptions,
  temporalDataConverter,
} from '../../src/temporal/connection';

let dir: string;
const file = (name: string, text = `-----BEGIN ${name}-----\n`) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-tls-unit-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const keyText = () => crypto.randomBytes(32).toString('base64');

function configError(env: Env): string {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('payload encryption keys', () => {
  test('none configured: no codec, the SDK default data converter', () => {
    const c = parseConfig({});
    expect(c.encryption).toBeUndefined();
    expect(temporalDataConverter(c)).toBeUndefined();
  });

  test('IDEM_ENCRYPTION_KEYS: the first key encrypts; the codec and the failure converter come with it', () => {
    const c = parseConfig({ IDEM_ENCRYPTION_KEYS: `k2:${keyText()},k1:${keyText()}` });
    expect(c.encryption?.keys.map((k) => k.id)).toEqual(['k2', 'k1']);
    const dc = temporalDataConverter(c);
    expect(dc?.payloadCodecs).toEqual([encryptionCodec(c)]);
    expect(encryptionCodec(c)?.keyId).toBe('k2');
    expect(dc?.failureConverterPath).toMatch(/failure-converter/);
    // One codec per key list: every client and worker of the process shares it.
    expect(encryptionCodec(c)).toBe(encryptionCodec(c));
  });

  test('IDEM_ENCRYPTION_KEYS_FILE: one entry a line, comments allowed', () => {
    const f = file('keys', `# rotated 2025-01\nk2:${keyText()}\n\nk1:${keyText()}\n`);
    expect(parseConfig({ IDEM_ENCRYPTION_KEYS_FILE: f }).encryption?.keys.map((k) => k.id)).toEqual([
      'k2',
      'k1',
    ]);
  });

  test('bad keys stop start-up with the fix, and the message quotes no key material', () => {
    const good = keyText();
    const short = crypto.randomBytes(16).toString('base64');
    const msg = configError({ IDEM_ENCRYPTION_KEYS: `k1:${good},k1:${good},k2:${short},k3:%%%` });
    expect(msg).toContain('IDEM_ENCRYPTION_KEYS: entry 2 (key id k1): the id is used twice');
    expect(msg).toContain(
      'IDEM_ENCRYPTION_KEYS: entry 3 (key id k2): the key is 16 bytes; expected id:base64 of 32',
    );
    expect(msg).toContain('IDEM_ENCRYPTION_KEYS: entry 4 (key id k3): the key is not valid base64');
    expect(msg).toContain('openssl rand -base64 32');
    expect(msg).toContain('Fix these environment variables');
    for (const secret of [good, short, '%%%']) expect(msg).not.toContain(secret);
  });

  test('a bad key file names the file; both variables at once is refused', () => {
    const f = file('bad-keys', `k1:${keyText().slice(0, 21)}\n`);
    expect(configError({ IDEM_ENCRYPTION_KEYS_FILE: f })).toContain(
      `IDEM_ENCRYPTION_KEYS_FILE (${f}): entry 1 (key id k1): the key is not valid base64`,
    );
    expect(configError({ IDEM_ENCRYPTION_KEYS_FILE: path.join(dir, 'missing') })).toMatch(
      /IDEM_ENCRYPTION_KEYS_FILE: cannot read this file \(ENOENT\)/,
    );
    const good = file('good-keys', `k1:${keyText()}\n`);
    expect(
      configError({ IDEM_ENCRYPTION_KEYS: `k1:${keyText()}`, IDEM_ENCRYPTION_KEYS_FILE: good }),
    ).toContain('IDEM_ENCRYPTION_KEYS and IDEM_ENCRYPTION_KEYS_FILE are both set');
  });

  test('once configured, the keys, the SASL password and the codec token are redacted from any log line', () => {
    const k = keyText();
    parseConfig({
      IDEM_ENCRYPTION_KEYS: `k1:${k}`,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'idem',
      KAFKA_SASL_PASSWORD: 'sasl-password-77',
      IDEM_CODEC_TOKEN: 'codec-token-0123456789',
    });
    expect(redactSecrets(`key ${k} pw sasl-password-77 token=codec-token-0123456789.`)).toBe(
      'key *** pw *** token=***.',
    );
  });
});

describe('Kafka: TLS and SASL', () => {
  test('nothing configured: plaintext, no SASL', () => {
    const c = parseConfig({});
    expect(kafkaSecurityOptions(c.kafka)).toEqual({});
  });

  test('KAFKA_SSL=true trusts the system CAs; paths become ca/cert/key, read from the files', () => {
    expect(kafkaSecurityOptions(parseConfig({ KAFKA_SSL: 'true' }).kafka)).toEqual({ ssl: true });
    const ca = file('KAFKA CA');
    const cert = file('KAFKA CERT');
    const key = file('KAFKA KEY');
    const c = parseConfig({ KAFKA_SSL_CA_PATH: ca, KAFKA_SSL_CERT_PATH: cert, KAFKA_SSL_KEY_PATH: key });
    expect(c.kafka.ssl).toEqual({ caPath: ca, certPath: cert, keyPath: key });
    expect(kafkaSecurityOptions(c.kafka)).toEqual({
      ssl: {
        ca: ['-----BEGIN KAFKA CA-----\n'],
        cert: '-----BEGIN KAFKA CERT-----\n',
        key: '-----BEGIN KAFKA KEY-----\n',
      },
    });
  });

  test.each(['PLAIN', 'scram-sha-256', 'SCRAM-SHA-512'])('SASL %s maps to kafkajs sasl', (mechanism) => {
    const c = parseConfig({
      KAFKA_SASL_MECHANISM: mechanism,
      KAFKA_SASL_USERNAME: 'idem',
      KAFKA_SASL_PASSWORD: 'secret-password',
    });
    expect(kafkaSecurityOptions(c.kafka)).toEqual({
      sasl: { mechanism: mechanism.toLowerCase(), username: 'idem', password: 'secret-password' },
    });
  });

  test('inconsistent settings are reported together, the password never quoted', () => {
    const msg = configError({
      KAFKA_SSL: 'false',
      KAFKA_SSL_CERT_PATH: file('C'),
      KAFKA_SASL_PASSWORD: 'pw-that-must-not-show',
      TEMPORAL_TLS: 'false',
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(msg.split('\n').slice(1, 6)).toEqual([
      '  KAFKA_SSL is false but KAFKA_SSL_*_PATH is set: remove the paths, or set KAFKA_SSL=true',
      '  KAFKA_SSL_CERT_PATH and KAFKA_SSL_KEY_PATH go together (a client certificate and its key)',
      '  SASL needs all of KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
      '  TEMPORAL_TLS is false but TEMPORAL_TLS_* is set: remove those, or set TEMPORAL_TLS=true',
      'Fix these environment variables (or .env) and start again; see docs/configuration.md.',
    ]);
    expect(msg).not.toContain('pw-that-must-not-show');
  });

  test('an unknown mechanism and a missing file are schema errors; secrets are not quoted', () => {
    const msg = configError({
      KAFKA_SASL_MECHANISM: 'gssapi',
      KAFKA_SSL_CA_PATH: path.join(dir, 'nope.pem'),
      IDEM_CODEC_TOKEN: 'short',
    });
    expect(msg).toContain(
      'KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512 (got "gssapi")',
    );
    expect(msg).toContain(
      `KAFKA_SSL_CA_PATH: cannot read this file (ENOENT): expected the path of a readable file`,
    );
    expect(msg).toContain(
      'IDEM_CODEC_TOKEN: expected at least 16 characters, for example $(openssl rand -hex 32)\n',
    );
    expect(msg).not.toContain('"short"');
  });
});

describe('Temporal: TLS and mTLS', () => {
  test('none: plaintext; TEMPORAL_TLS=true: TLS with the system CAs', () => {
    expect(temporalConnectionOptions(parseConfig({}))).toEqual({ address: '127.0.0.1:27233' });
    expect(temporalConnectionOptions(parseConfig({ TEMPORAL_TLS: 'true' }))).toEqual({
      address: '127.0.0.1:27233',
      tls: {},
    });
  });

  test('CA, client certificate pair and server name map to the SDK TLSConfig, read from the files', () => {
    const ca = file('T CA');
    const crt = file('T CRT');
    const key = file('T KEY');
    const c = parseConfig({
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
      TEMPORAL_TLS_CLIENT_CERT_PATH: crt,
      TEMPORAL_TLS_CLIENT_KEY_PATH: key,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
    });
    expect(temporalConnectionOptions(c)).toEqual({
      address: 'temporal.example:7233',
      tls: {
        serverNameOverride: 'frontend.temporal.internal',
        serverRootCACertificate: Buffer.from('-----BEGIN T CA-----\n'),
        clientCertPair: {
          crt: Buffer.from('-----BEGIN T CRT-----\n'),
          key: Buffer.from('-----BEGIN T KEY-----\n'),
        },
      },
    });
  });

  test('a client certificate without its key is refused', () => {
    expect(configError({ TEMPORAL_TLS_CLIENT_CERT_PATH: file('X') })).toContain(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together',
    );
  });
});

describe('PostgreSQL: sslmode from DATABASE_URL, with libpq meanings', () => {
  const base = 'postgres://idem:pw@db.internal:5432/idem';

  test('no sslmode and sslmode=disable: no TLS, the URL unchanged (PGSSLMODE is not read)', () => {
    expect(pgConnectionConfig(base)).toEqual({ connectionString: base, ssl: false });
    expect(pgConnectionConfig(`${base}?sslmode=disable`)).toEqual({ connectionString: base, ssl: false });
  });

  test('require: TLS without checks; with sslrootcert, the chain is checked (as verify-ca)', () => {
    expect(pgConnectionConfig(`${base}?sslmode=require&application_name=x`)).toEqual({
      connectionString: `${base}?application_name=x`,
      ssl: { rejectUnauthorized: false },
    });
    const ca = file('PG CA');
    const withCa = pgConnectionConfig(`${base}?sslmode=require&sslrootcert=${ca}`);
    expect(withCa.connectionString).toBe(base);
    expect(withCa.ssl).toMatchObject({ ca: '-----BEGIN PG CA-----\n' });
    expect(withCa.ssl && withCa.ssl.rejectUnauthorized).toBeUndefined();
    expect(withCa.ssl && withCa.ssl.checkServerIdentity?.('db.internal', {} as never)).toBeUndefined();
  });

  test('verify-ca checks the chain only; verify-full the chain and the host name; client certificates', () => {
    const ca = file('PG CA');
    const crt = file('PG CRT');
    const key = file('PG KEY');
    const verifyCa = pgConnectionConfig(`${base}?sslmode=verify-ca&sslrootcert=${ca}`).ssl;
    expect(verifyCa).toMatchObject({ ca: '-----BEGIN PG CA-----\n' });
    expect(verifyCa && typeof verifyCa.checkServerIdentity).toBe('function');
    const full = pgConnectionConfig(
      `${base}?sslmode=verify-full&sslrootcert=${ca}&sslcert=${crt}&sslkey=${key}`,
    );
    expect(full).toEqual({
      connectionString: base,
      ssl: {
        ca: '-----BEGIN PG CA-----\n',
        cert: '-----BEGIN PG CRT-----\n',
        key: '-----BEGIN PG KEY-----\n',
      },
    });
    expect(pgConnectionConfig(`${base}?sslmode=verify-full&sslrootcert=system`).ssl).toEqual({});
  });

  test.each([
    ['sslmode=prefer', /sslmode=prefer is not supported: node-postgres cannot fall back/],
    ['sslmode=allow', /sslmode=allow is not supported/],
    ['sslmode=bogus', /sslmode=bogus is not a libpq sslmode/],
    ['sslmode=verify-ca', /sslmode=verify-ca needs sslrootcert/],
    ['sslmode=require&ssl=true', /ssl= is node-postgres' own parameter/],
    ['sslrootcert=/etc/ca.pem', /sslrootcert given without sslmode/],
    ['sslmode=verify-full&sslrootcert=/no/such.pem', /sslrootcert=\/no\/such.pem cannot be read \(ENOENT\)/],
    ['sslmode=require&sslrootcert=system', /sslrootcert=system goes with sslmode=verify-full/],
  ])('?%s is refused at start-up with the fix', (query, expected) => {
    expect(pgTlsProblems(`${base}?${query}`).join('\n')).toMatch(expected);
    const msg = configError({ DATABASE_URL: `${base}?${query}` });
    expect(msg).toMatch(expected);
    expect(msg).toContain('DATABASE_URL:');
    expect(msg).not.toContain(':pw@');
  });

  test('a client certificate needs its key', () => {
    const crt = file('PG CRT');
    expect(pgTlsProblems(`${base}?sslmode=verify-full&sslcert=${crt}`)).toEqual([
      'a client certificate needs both sslcert and sslkey (PEM files)',
    ]);
  });
});

test('the codec server: loopback, port 28888, CORS for Temporal Web by default', () => {
  expect(parseConfig({}).codecServer).toEqual({
    host: '127.0.0.1',
    port: 28888,
    corsOrigins: ['http://127.0.0.1:28233'],
  });
  expect(
    parseConfig({
      TEMPORAL_WEB_URL: 'https://temporal.example/ui/',
      IDEM_CODEC_TOKEN: 'a-token-of-enough-length',
      IDEM_CODEC_PORT: '8888',
    }).codecServer,
  ).toEqual({
    host: '127.0.0.1',
    port: 8888,
    token: 'a-token-of-enough-length',
    corsOrigins: ['https://temporal.example'],
  });
  expect(
    parseConfig({ IDEM_CODEC_CORS_ORIGINS: 'https://a.example, http://b.example:8080/' }).codecServer
      .corsOrigins,
  ).toEqual(['https://a.example', 'http://b.example:8080']);
});
