/**
 * kafkajs reports a broker's refusal as a KafkaJSProtocolError with a `type` (MESSAGE_TOO_LARGE,
 * UNKNOWN_TOPIC_OR_PARTITION, ...), often wrapped by its retrier (`originalError`) or as a
 * `cause`. Whether one of `types` is anywhere in that chain.
 */
export function hasKafkaErrorType(err: unknown, types: ReadonlySet<string>): boolean {
  for (let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined; e;) {
    if (typeof e.type === 'string' && types.has(e.type)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}
