/**
 * Clients of the operator commands (`idem status`, `idem stuck`, `idem inspect`): each server is
 * asked with short deadlines, so a command answers within seconds, saying which server did not
 * answer, instead of retrying for a minute as the consumer does.
 */
import { Connection, type Client } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { Pool } from 'pg';
import type { Config } from '../config';
import { reachable } from '../dependencies';
import { UserError } from '../errors';
import { kafkaSecurityOptions } from '../kafka/security';
import { redactSecrets } from '../observability/redact';
import { pgConnectionConfig } from '../store/tls';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';

const CONNECT_TIMEOUT_MS = 5_000;

/** Exit codes shared by the operator commands. */
export const EXIT_OK = 0;
/** Something needs an operator: stuck events (`status`, `stuck`), nothing found (`inspect`). */
export const EXIT_ATTENTION = 1;
/** A server did not answer, or the command could not run (usage, configuration). */
export const EXIT_CANNOT_RUN = 2;

/** kafkajs with few retries and short timeouts, after a TCP check that answers at once. */
export async function operatorKafka(config: Config, clientId: string): Promise<Kafka> {
  await reachable(config.kafka.brokers, CONNECT_TIMEOUT_MS);
  return new Kafka({
    clientId,
    brokers: config.kafka.brokers,
    ...kafkaSecurityOptions(config.kafka),
    logLevel: logLevel.NOTHING,
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: 15_000,
    retry: { initialRetryTime: 200, retries: 2 },
  });
}

/** A Temporal client on a connection of its own; `close` ends it. */
export async function operatorTemporal(config: Config): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({
    ...temporalConnectionOptions(config),
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  return { client: temporalClient(config, connection), close: () => connection.close() };
}

/** A small pool on the store (DATABASE_URL); its errors while idle are ignored. */
export function operatorPool(config: Config): Pool {
  const pool = new Pool({
    ...pgConnectionConfig(config.database.url),
    max: 2,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: 30_000,
  });
  pool.on('error', () => undefined);
  return pool;
}

/** A server's error for a person: one line, no secrets. */
export function oneLine(err: unknown): string {
  const e = err as { message?: unknown } | null;
  const text = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  return redactSecrets(text.replace(/\s+/g, ' ').trim());
}

/** The user-fixable error for a Temporal that does not answer. */
export function temporalDown(config: Config, err: unknown): UserError {
  return new UserError(
    `Temporal at ${config.temporal.address} did not answer (${oneLine(err)}): check TEMPORAL_ADDRESS and ` +
      'TEMPORAL_TLS*; for the local stack, idem stack status',
  );
}

/** Runs an operator command's body: a UserError (or any error) prints `idem <name>: message`
 * on stderr and exits EXIT_CANNOT_RUN; otherwise the body's exit code. */
export async function runOperatorCommand(name: string, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    console.error(err instanceof UserError ? `idem ${name}: ${err.message}` : err);
    process.exitCode = EXIT_CANNOT_RUN;
  }
}
