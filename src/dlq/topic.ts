/**
 * The dead-letter topic's name. Everything that writes, reads, creates or deletes
 * a dead-letter topic derives it here, so the naming rule cannot drift.
 */

/** Dead-letter topic of a source topic: `<topic>.dlq`. */
export function dlqTopicFor(topic: string): string {
  return `${topic}.dlq`;
}
