/**
 * Kafka record headers as kafkajs hands them over, and the one flattening idem
 * applies everywhere it reads them: the first value of each name (a header name
 * sent twice arrives as an array), absent values dropped.
 */

/** A header value as kafkajs hands it over (duplicate header names arrive as an array). */
export type KafkaHeaderValue = Buffer | string | (Buffer | string)[] | undefined;

/** The first value of a header, or undefined. */
export function firstHeaderValue(value: KafkaHeaderValue): Buffer | string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Every header with its first value; headers without a value are left out. */
export function flattenHeaders(
  headers: Record<string, KafkaHeaderValue> | undefined,
): Record<string, Buffer | string> {
  // A loop, for every record read (Object.entries, flatMap and fromEntries took 3 µs a record).
  const out: Record<string, Buffer | string> = {};
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const first = firstHeaderValue(headers[name]);
    if (first !== undefined) setOwn(out, name, first);
  }
  return out;
}

/** `target[name] = value` as an own property, even for a header named "__proto__" (an assignment
 * would set the object's prototype instead). */
export function setOwn<T>(target: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__')
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}
