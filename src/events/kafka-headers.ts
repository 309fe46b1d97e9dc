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
  // Object.fromEntries defines own properties, so even a header named "__proto__" survives.
  return Object.fromEntries(
    Object.entries(headers ?? {}).flatMap(([name, value]) => {
      const first = firstHeaderValue(value);
      return first === undefined ? [] : [[name, first] as const];
    }),
  );
}
