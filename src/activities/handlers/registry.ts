/**
 * The one registration API for event types. A handler gets the transaction that
 * also records the event as applied, so whatever it writes through `ctx.tx`
 * commits exactly once with the dedup record, or not at all.
 *
 * ```ts
 * const registry = new HandlerRegistry().register(
 *   'order.placed',
 *   async (ctx, order) => {
 *     await ctx.tx.query('insert into orders (id, total) values ($1, $2)', [order.id, order.total]);
 *     await ctx.emit({ type: 'order.accepted', data: { id: order.id }, key: order.id });
 *   },
 *   { schema: z.object({ id: z.string(), total: z.number().int() }) },
 * );
 * ```
 *
 * Rules for handlers:
 * - Use `ctx.tx` for every PostgreSQL write; never commit or roll back yourself.
 * - A side effect outside PostgreSQL (an HTTP call) is not covered by the
 *   transaction: pass `ctx.dedupKey` as its idempotency key, because the handler
 *   may run again if the transaction fails to commit.
 * - Throw {@link PermanentHandlerError} when retrying cannot help (a business rule
 *   refuses the event): the event is dead-lettered at once. Any other error is
 *   retried with backoff, then dead-lettered as `handler_failed`.
 */
import type { PoolClient } from 'pg';
import { z, type ZodType } from 'zod';

import { HandlersModuleError, InvalidPayloadError } from '../../errors';
import type { IdemEvent } from '../../events/types';

/** An event a handler writes to the transactional outbox. */
export interface OutgoingEvent {
  /** CloudEvents `type`. */
  type: string;
  /** Any JSON value; the CloudEvent's `data`. */
  data: unknown;
  /** Kafka message key (ordering); none when omitted. */
  key?: string;
  /** CloudEvents `subject`. */
  subject?: string;
  /** Destination topic. @default the configured outbox topic (`IDEM_OUTBOX_TOPIC`) */
  topic?: string;
  /** CloudEvents `source`. @default the activities' outbox source (`idem`) */
  source?: string;
}

export interface HandlerContext {
  /** The transaction of this event: the dedup record and the outbox are in it too. */
  tx: PoolClient;
  event: IdemEvent;
  /** The dedup key of the event (`processed_events.event_id`, the workflow ID); not the
   * CloudEvent id, which is `event.id`. Use it as the idempotency key of side effects
   * outside PostgreSQL. */
  dedupKey: string;
  /** Activity attempt, from 1. */
  attempt: number;
  /** This run is an operator's redrive of a dead-lettered event. */
  redrive: boolean;
  /** Write an outgoing event to the outbox, in this transaction. */
  emit(out: OutgoingEvent): Promise<void>;
}

/** `data` is the event's data, validated by the schema when one was registered. */
export type Handler<T = unknown> = (ctx: HandlerContext, data: T) => Promise<void> | void;

export interface HandlerOptions<T> {
  /** Validates `event.data`; a mismatch is a non-retryable InvalidPayloadError. */
  schema?: ZodType<T>;
}

/** A handler with its type and schema, ready for {@link HandlerRegistry.add}. */
export interface HandlerDefinition<T = unknown> {
  type: string;
  handle: Handler<T>;
  schema?: ZodType<T>;
}

/** Any {@link HandlerDefinition}, whatever its data type. */
export interface AnyHandlerDefinition {
  type: string;
  handle: Handler<never>;
  schema?: ZodType<unknown>;
}

/** A registered handler: validates the event's data, then runs. */
export interface RegisteredHandler {
  type: string;
  /** @throws InvalidPayloadError when the data does not match the schema. */
  run(ctx: HandlerContext): Promise<void>;
}

/** Typed helper: the handler's `data` parameter gets the schema's output type. */
export function defineHandler<S extends ZodType>(
  type: string,
  schema: S,
  handle: Handler<z.output<S>>,
): HandlerDefinition<z.output<S>> {
  return { type, schema: schema as ZodType<z.output<S>>, handle };
}

export class HandlerRegistry {
  private readonly handlers = new Map<string, RegisteredHandler>();

  /** Registers the handler of one event type. Throws if the type already has one. */
  register<T = unknown>(type: string, handler: Handler<T>, opts: HandlerOptions<T> = {}): this {
    if (typeof type !== 'string' || type === '') throw new TypeError('event type must be a non-empty string');
    if (this.handlers.has(type))
      throw new HandlersModuleError(`a handler for event type "${type}" is already registered`);
    const { schema } = opts;
    this.handlers.set(type, {
      type,
      async run(ctx) {
        await handler(ctx, schema ? validate(schema, type, ctx.event.data) : (ctx.event.data as T));
      },
    });
    return this;
  }

  /** Registers handlers made with {@link defineHandler}. */
  add(...defs: AnyHandlerDefinition[]): this {
    // Sound: each definition's schema produces exactly what its own handler takes.
    for (const def of defs) this.register(def.type, def.handle as Handler, { schema: def.schema });
    return this;
  }

  get(type: string): RegisteredHandler | undefined {
    return this.handlers.get(type);
  }

  has(type: string): boolean {
    return this.handlers.has(type);
  }

  /** Registered event types, in registration order. */
  types(): string[] {
    return [...this.handlers.keys()];
  }
}

function validate<T>(schema: ZodType<T>, type: string, data: unknown): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new InvalidPayloadError(`invalid data for event type "${type}": ${z.prettifyError(result.error)}`);
}
