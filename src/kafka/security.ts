/**
 * TLS and SASL to Kafka, from configuration (KAFKA_SSL*, KAFKA_SASL_*), as kafkajs takes them:
 * `ssl` (Node's tls.connect options: CA, client certificate and key for mTLS) and `sasl`
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). Every Kafka client idem makes from configuration goes
 * through createKafka (src/app.ts), which spreads these in.
 */
import fs from 'node:fs';
import type tls from 'node:tls';
import type { SASLOptions } from 'kafkajs';

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** TLS to the brokers; the paths are PEM files, read when a client is made. */
export interface KafkaTlsSettings {
  caPath?: string;
  certPath?: string;
  keyPath?: string;
}

export interface KafkaSaslSettings {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

export interface KafkaSecuritySettings {
  ssl?: KafkaTlsSettings;
  sasl?: KafkaSaslSettings;
}

/** The kafkajs `ssl` and `sasl` options; none of either when not configured (plaintext). */
export function kafkaSecurityOptions(s: KafkaSecuritySettings): {
  ssl?: tls.ConnectionOptions | true;
  sasl?: SASLOptions;
} {
  const out: { ssl?: tls.ConnectionOptions | true; sasl?: SASLOptions } = {};
  if (s.ssl) {
    const { caPath, certPath, keyPath } = s.ssl;
    out.ssl =
      caPath || certPath || keyPath
        ? {
            ...(caPath ? { ca: [fs.readFileSync(caPath, 'utf8')] } : {}),
            ...(certPath ? { cert: fs.readFileSync(certPath, 'utf8') } : {}),
            ...(keyPath ? { key: fs.readFileSync(keyPath, 'utf8') } : {}),
          }
        : true;
  }
  if (s.sasl) {
    const { mechanism, username, password } = s.sasl;
    // One branch per mechanism: kafkajs types each mechanism's options separately.
    out.sasl =
      mechanism === 'plain'
        ? { mechanism, username, password }
        : mechanism === 'scram-sha-256'
          ? { mechanism, username, password }
          : { mechanism, username, password };
  }
  return out;
}
