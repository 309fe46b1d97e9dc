/**
 * Event identity → Temporal workflow ID, which is also the dedup key
 * (`processed_events.event_id`, {@link dedupKeyFor}).
 *
 * ============================================================================
 *  THE STRINGS PRODUCED HERE ARE THE DEDUP KEY FOR REDELIVERED EVENTS.
 *  Temporal rejects a second start with the same workflow ID, and PostgreSQL
 *  uses the same string as the primary key of `processed_events`. Changing the
 *  format in any way (prefixes, safe set, length threshold, hash input
 *  encoding, hex case) makes every event already seen look new, so it would be
 *  applied AGAIN. The format must never change. The unit tests pin exact
 *  outputs so that an accidental change fails the build.
 * ============================================================================
 *
 * Format of `workflowIdFor(source, id)`:
 *
 * 1. Readable form `event:<source>:<id>`, used only when ALL of these hold:
 *    - `source` is non-empty and made only of `[A-Za-z0-9._~/@+=-]` (note: no ':');
 *    - `id` is non-empty and made only of `[A-Za-z0-9._~/@+=:-]` (':' allowed);
 *    - the whole string is at most 200 characters.
 *    Because `source` never contains ':', the first ':' after the `event:` prefix
 *    always ends the source, so the readable form is injective:
 *    `event:a:b:c` can only mean (source `a`, id `b:c`); the pair (`a:b`, `c`)
 *    takes the hash form. Sources that are URIs with a scheme (`https://…`,
 *    `urn:…`) therefore always take the hash form.
 *
 * 2. Otherwise the hash form `event-sha256:<64 lowercase hex digits>` (77
 *    characters), the SHA-256 of this byte string:
 *
 *        "idem-event-id" 0x00
 *        uint32be(byteLength(S)) S
 *        uint32be(byteLength(I)) I
 *
 *    where S and I are `source` and `id` encoded as UTF-8 (precisely WTF-8, which is
 *    UTF-8 for every well-formed string and also encodes an unpaired UTF-16
 *    surrogate as its own 3 bytes, so two different JavaScript strings never share
 *    an encoding). The length prefixes make the encoding of the pair unambiguous.
 *
 * The two forms cannot collide with each other: the readable form starts with
 * `event:`, the hash form with `event-`. Every result is at most 200 characters,
 * well under Temporal's 1,000-character limit on workflow IDs.
 *
 * To recompute a hash-form ID elsewhere, e.g. in Python:
 *
 *     s, i = source.encode(), id.encode()
 *     'event-sha256:' + sha256(b'idem-event-id\0' + len(s).to_bytes(4, 'big') + s
 *                              + len(i).to_bytes(4, 'big') + i).hexdigest()
 */
import { createHash } from 'node:crypto';

/** Longest readable-form workflow ID; longer ones take the hash form. Part of the dedup key format. */
export const READABLE_ID_MAX_LENGTH = 200;

/** Temporal's default limit on workflow ID length; every ID made here stays below it. */
export const TEMPORAL_MAX_ID_LENGTH = 1000;

const SAFE_SOURCE = /^[A-Za-z0-9._~/@+=-]+$/;
const SAFE_ID = /^[A-Za-z0-9._~/@+=:-]+$/;
/** With the `u` flag a class of surrogates matches only unpaired ones. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

const EVENT_HASH_DOMAIN = 'idem-event-id';
const REDRIVE_HASH_DOMAIN = 'idem-redrive-id';
const REDRIVE_READABLE_MAX_LENGTH = 255;

/**
 * Deterministic Temporal workflow ID of the event (source, id). THIS IS THE DEDUP
 * KEY FOR REDELIVERED EVENTS AND ITS FORMAT MUST NEVER CHANGE (see the top of this
 * file). Distinct pairs always give distinct IDs.
 */
export function workflowIdFor(source: string, id: string): string {
  const readable = `event:${source}:${id}`;
  if (readable.length <= READABLE_ID_MAX_LENGTH && SAFE_SOURCE.test(source) && SAFE_ID.test(id)) {
    return readable;
  }
  return `event-sha256:${sha256Hex(EVENT_HASH_DOMAIN, [source, id])}`;
}

/**
 * The dedup key of the event (source, id): primary key of `processed_events.event_id`
 * and the idempotency key handed to handlers as `ctx.dedupKey`. Always the same string
 * as {@link workflowIdFor}; the same never-change rule applies.
 */
export function dedupKeyFor(source: string, id: string): string {
  return workflowIdFor(source, id);
}

/**
 * Workflow ID of an operator's redrive of one dead-lettered record: the record's
 * dead-letter-topic coordinates plus the original workflow ID.
 *
 * Form `redrive:<dlqPartition>:<dlqOffset>:<baseWorkflowId>` when `baseWorkflowId`
 * is made of `[A-Za-z0-9._~/@+=:-]` and the result is at most 255 characters
 * (always true for IDs from {@link workflowIdFor}); otherwise
 * `redrive-sha256:<hex>`, the SHA-256 of
 * `"idem-redrive-id" 0x00 uint32be(dlqPartition) uint32be(len) dlqOffset uint32be(len) base`.
 *
 * Redriving the same dead-letter record twice therefore gives the same workflow ID
 * (Temporal rejects the second start while it keeps the first run); a redrive that
 * fails again produces a new dead-letter record, hence a new ID for the next
 * redrive. Partition and offset are canonical decimals, so the readable form is
 * injective, and the `redrive` prefixes never collide with `event` IDs.
 *
 * @throws RangeError if the partition is not a non-negative 32-bit integer, the
 *   offset is not a canonical non-negative decimal string, or the base is empty.
 */
export function redriveWorkflowIdFor(
  baseWorkflowId: string,
  dlqPartition: number,
  dlqOffset: string,
): string {
  if (!Number.isInteger(dlqPartition) || dlqPartition < 0 || dlqPartition > 0x7fffffff) {
    throw new RangeError(`dlqPartition must be a non-negative 32-bit integer, got ${String(dlqPartition)}`);
  }
  if (!DECIMAL.test(dlqOffset)) {
    throw new RangeError(
      `dlqOffset must be a non-negative decimal string without leading zeros, got ${JSON.stringify(dlqOffset)}`,
    );
  }
  if (baseWorkflowId.length === 0) {
    throw new RangeError('baseWorkflowId must not be empty');
  }
  const readable = `redrive:${dlqPartition}:${dlqOffset}:${baseWorkflowId}`;
  if (readable.length <= REDRIVE_READABLE_MAX_LENGTH && SAFE_ID.test(baseWorkflowId)) {
    return readable;
  }
  const partition = Buffer.alloc(4);
  partition.writeUInt32BE(dlqPartition);
  return `redrive-sha256:${sha256Hex(REDRIVE_HASH_DOMAIN, [partition, dlqOffset, baseWorkflowId])}`;
}

/** SHA-256 (lowercase hex) over `domain 0x00` then each part as uint32be(byte length) + bytes;
 * a Buffer part is taken as-is, without a length prefix. */
function sha256Hex(domain: string, parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  hash.update(Buffer.from(`${domain}\0`, 'utf8'));
  for (const part of parts) {
    if (typeof part !== 'string') {
      hash.update(part);
      continue;
    }
    const bytes = wtf8(part);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/**
 * UTF-8 bytes of a string; an unpaired surrogate (which `Buffer.from` would turn
 * into U+FFFD, merging distinct strings) is encoded as its own 3 bytes (WTF-8).
 * Identical to `Buffer.from(s, 'utf8')` for every well-formed string.
 */
function wtf8(s: string): Buffer {
  if (!LONE_SURROGATE.test(s)) return Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else {
      out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    }
  }
  return Buffer.from(out);
}
