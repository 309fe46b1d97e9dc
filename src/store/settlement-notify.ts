/**
 * Settlement by LISTEN/NOTIFY (IDEM_SETTLEMENT=notify): the apply transaction sends
 * `pg_notify('idem_settled', dedupKey)`, delivered at its commit, and the ingester's
 * SettlementWatch resolves the waiter at once instead of at its next poll. Polling stays
 * as the backstop (a dead-lettered event, a notification missed while reconnecting).
 */
import { Client } from 'pg';
import type { Logger } from '../observability/logger';
import type { Queryable } from './sql/queryable';

export const SETTLED_CHANNEL = 'idem_settled';

/** Inside the apply transaction: PostgreSQL delivers it at COMMIT, and never on ROLLBACK. */
export async function notifySettled(q: Queryable, dedupKey: string): Promise<void> {
  await q.query('select pg_notify($1, $2)', [SETTLED_CHANNEL, dedupKey]);
}

export interface SettledListener {
  close(): Promise<void>;
}

/**
 * One dedicated connection LISTENing on the channel; reconnects with a backoff after the
 * connection dies, and calls `onListening` each time LISTEN has taken effect (the caller then
 * polls everything it waits on: what settled while nobody listened).
 */
export function listenSettled(o: {
  url: string;
  logger: Logger;
  onSettled: (dedupKey: string) => void;
  onListening: () => void;
}): SettledListener {
  let closed = false;
  let client: Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = 250;

  const connect = async (): Promise<void> => {
    const c = new Client({ connectionString: o.url });
    client = c;
    let failed = false;
    const lost = (err?: unknown) => {
      if (failed) return;
      failed = true;
      if (!closed) o.logger.warn({ err }, 'the settlement listener lost PostgreSQL; reconnecting');
      void c.end().catch(() => undefined);
      if (!closed) retry = setTimeout(() => void connect(), delay);
      delay = Math.min(delay * 2, 5_000);
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => {
      if (n.channel === SETTLED_CHANNEL && n.payload) o.onSettled(n.payload);
    });
    try {
      await c.connect();
      await c.query(`listen ${SETTLED_CHANNEL}`);
      delay = 250;
      o.onListening();
    } catch (err) {
      lost(err);
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
