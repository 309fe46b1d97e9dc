/**
 * How every idem process reaches Temporal from configuration: the connection options (address,
 * TLS/mTLS) and the data converter (payload encryption). Each place that makes a Temporal
 * connection, client or worker from a Config (src/app.ts, `idem dlq redrive`, the demo, the
 * benchmark, `idem codec-server`) takes them from here, so none can drift: a client without the
 * codec could not read what the workers wrote, and would write plaintext.
 */
import fs from 'node:fs';
import { Client, type ClientInterceptors, type ConnectionLike, type TLSConfig } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, type EncryptionKey } from './encryption-codec';

/** TLS to Temporal's frontend; the paths are PEM files, read when a connection is made. */
export interface TemporalTlsSettings {
  /** CA the server's certificate must chain to; the system's when undefined. */
  serverCaCertPath?: string;
  /** Client certificate and key (mTLS). */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** The name checked against the server's certificate (and sent as SNI), if not the address's host. */
  serverName?: string;
}

interface TemporalSettings {
  temporal: { address: string; namespace: string; tls?: TemporalTlsSettings };
  encryption?: { keys: readonly EncryptionKey[] };
}

/** Options for `Connection.connect` and `NativeConnection.connect`. */
export function temporalConnectionOptions(config: TemporalSettings): { address: string; tls?: TLSConfig } {
  const { address, tls } = config.temporal;
  if (!tls) return { address };
  const read = (file: string) => fs.readFileSync(file);
  return {
    address,
    tls: {
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
      ...(tls.serverCaCertPath ? { serverRootCACertificate: read(tls.serverCaCertPath) } : {}),
      ...(tls.clientCertPath && tls.clientKeyPath
        ? { clientCertPair: { crt: read(tls.clientCertPath), key: read(tls.clientKeyPath) } }
        : {}),
    },
  };
}

const codecs = new WeakMap<readonly EncryptionKey[], EncryptionCodec>();

/** The codec of the configured keys (one per key list), or undefined without encryption. */
export function encryptionCodec(config: TemporalSettings): EncryptionCodec | undefined {
  const keys = config.encryption?.keys;
  if (!keys || keys.length === 0) return undefined;
  let codec = codecs.get(keys);
  if (!codec) codecs.set(keys, (codec = new EncryptionCodec(keys)));
  return codec;
}

/** The data converter of clients and workers: Temporal's default, plus encryption when keys are
 * configured (payloads, and failure messages and stack traces). Undefined: the SDK's default. */
export function temporalDataConverter(config: TemporalSettings): DataConverter | undefined {
  const codec = encryptionCodec(config);
  if (!codec) return undefined;
  return { payloadCodecs: [codec], failureConverterPath: require.resolve('./failure-converter') };
}

/** A client of the configured namespace on `connection`, with the data converter; `interceptors`
 * for a client that starts event workflows with tracing on (src/observability/tracing.ts). */
export function temporalClient(
  config: TemporalSettings,
  connection: ConnectionLike,
  interceptors?: ClientInterceptors,
): Client {
  const dataConverter = temporalDataConverter(config);
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    ...(dataConverter ? { dataConverter } : {}),
    ...(interceptors ? { interceptors } : {}),
  });
}
