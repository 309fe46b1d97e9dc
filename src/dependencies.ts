/**
 * Start-up with a dependency down: an idem process started while PostgreSQL, Kafka or Temporal
 * is unreachable waits for it, logging what it waits for and when it tries again, and reports
 * not-ready (`/ready`, src/observability/metrics.ts) meanwhile, instead of exiting. What no wait
 * can fix (a wrong password, a missing database, topic or search attribute) stops the process
 * with a message that says how to fix it.
 */
import net from 'node:net';
import { ConfigError, StoppedError, UserError } from './errors';
import { retryUntilStopped } from './retry';
import type { Logger } from './observability/logger';
import { redactSecrets } from './observability/redact';

export type Dependency = 'PostgreSQL' | 'Kafka' | 'Temporal';

/** What the process waits for before it is ready. */
export class Readiness {
  private readonly waiting = new Map<string, string>();
  private started = false;

  wait(what: string, why: string): void {
    this.waiting.set(what, why);
  }
  done(what: string): void {
    this.waiting.delete(what);
  }
  markStarted(): void {
    this.started = true;
  }
  /** Ready once every role started; until then, what it waits for and why. */
  status(): { ready: boolean; waiting: Record<string, string> } {
    return { ready: this.started && this.waiting.size === 0, waiting: Object.fromEntries(this.waiting) };
  }
}

export interface WaitOptions {
  logger: Logger;
  readiness?: Readiness;
  /** Stops the wait (SIGTERM during start-up): rejects with StoppedError. */
  signal?: AbortSignal;
  /** First pause between two tries; doubles up to `maxDelayMs`. @default 500 */
  initialDelayMs?: number;
  /** @default 10000 */
  maxDelayMs?: number;
}

/** PostgreSQL's answers that no wait fixes: authentication, a missing database or role. */
const PG_FATAL = new Map([
  ['28P01', 'the password in DATABASE_URL was refused'],
  ['28000', 'DATABASE_URL names a user the server does not accept'],
  ['3D000', 'the database named in DATABASE_URL does not exist (create it, or fix the URL)'],
]);

/** Kafka errors that no wait fixes. */
const KAFKA_FATAL = new Set(['KafkaJSSASLAuthenticationError']);

/** Thrown by an attempt whose failure no wait fixes (not the dependency being down): waitFor
 * rethrows its cause at once. */
export class NotTransientError extends Error {
  constructor(readonly original: unknown) {
    super('not transient', { cause: original });
  }
}

/** Temporal's frontend unreachable: refused, reset, DNS, or no answer before the deadline. */
export function isTemporalUnreachable(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (e?.name === 'TransportError') return true;
  // gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4)
  if (e?.code === 14 || e?.code === 4) return true;
  return (
    typeof e?.message === 'string' &&
    /Failed to connect before the deadline|UNAVAILABLE|transport/i.test(e.message)
  );
}

/** The error as a user must fix it, or undefined when waiting may help. */
export function fatalStartError(dependency: Dependency, err: unknown): UserError | undefined {
  if (err instanceof UserError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (dependency === 'PostgreSQL' && typeof code === 'string' && PG_FATAL.has(code)) {
    return new ConfigError(
      `PostgreSQL refused idem: ${PG_FATAL.get(code)} (${describe(err)}). Fix DATABASE_URL and start again.`,
      { cause: err },
    );
  }
  const name = (err as { name?: unknown } | null)?.name;
  if (dependency === 'Kafka' && typeof name === 'string' && KAFKA_FATAL.has(name)) {
    return new ConfigError(
      `Kafka refused idem's credentials (${describe(err)}). Fix the Kafka settings and start again.`,
      {
        cause: err,
      },
    );
  }
  return undefined;
}

/**
 * Runs `attempt` until it succeeds, waiting between tries while `dependency` is unreachable.
 * `step` names what is being done (e.g. "connect", "migrate"). Fatal errors are thrown at once.
 */
export async function waitFor<T>(
  dependency: Dependency,
  step: string,
  attempt: () => Promise<T>,
  o: WaitOptions,
): Promise<T> {
  const what = `${dependency}: ${step}`;
  const since = Date.now();
  let failed = false;
  // An error no wait fixes, as the caller must see it; undefined when waiting may help.
  const giveUp = (err: unknown): unknown =>
    err instanceof NotTransientError ? err.original : fatalStartError(dependency, err);
  try {
    const result = await retryUntilStopped(attempt, {
      stopped: () => o.signal?.aborted ?? false,
      initialMs: o.initialDelayMs ?? 500,
      maxMs: o.maxDelayMs ?? 10_000,
      permanent: (err) => giveUp(err) !== undefined,
      onError: (err, tries, delay) => {
        failed = true;
        const why = describe(err);
        o.readiness?.wait(what, why);
        o.logger.warn(
          { dependency, step, attempt: tries, retryInMs: Math.round(delay), error: why },
          `${dependency} is not reachable (${step}: ${why}); waiting for it, next try in ${Math.round(delay / 100) / 10} s`,
        );
      },
    });
    if (failed)
      o.logger.info({ dependency, step, waitedMs: Date.now() - since }, `${dependency} is back; carrying on`);
    o.readiness?.done(what);
    return result;
  } catch (err) {
    if (err instanceof StoppedError) throw new StoppedError(`stopped while waiting for ${what}`);
    throw giveUp(err) ?? err;
  }
}

function describe(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown } | null;
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  const code = typeof e?.code === 'string' && !message.includes(e.code) ? ` [${e.code}]` : '';
  return redactSecrets(message + code);
}

/**
 * Resolves once one of `addresses` (`host:port`) accepts a TCP connection. kafkajs's own
 * connect retries for about a minute before it reports anything; this answers at once, so the
 * wait for a Kafka that is down says so from its first second.
 */
export function reachable(addresses: readonly string[], timeoutMs = 5_000): Promise<void> {
  const one = (address: string) =>
    new Promise<void>((resolve, reject) => {
      const i = address.lastIndexOf(':');
      const socket = net.connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
      socket.setTimeout(timeoutMs, () =>
        socket.destroy(new Error(`no answer from ${address} in ${timeoutMs} ms`)),
      );
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
  return Promise.any(addresses.map(one)).catch((err: AggregateError) => {
    throw err.errors[0] instanceof Error ? err.errors[0] : err;
  });
}
