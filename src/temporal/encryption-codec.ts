/**
 * Payload encryption: a Temporal {@link PayloadCodec} that encrypts every payload idem's clients
 * and workers send to Temporal (workflow inputs and results, activity inputs and results, memos,
 * failure details) with AES-256-GCM, so event data sits in Temporal's history as ciphertext.
 *
 * An encrypted payload, as Temporal's samples do it: metadata `encoding: binary/encrypted` and
 * `encryption-key-id: <id>`; data = IV (12 random bytes) ‖ ciphertext ‖ GCM tag (16 bytes), the
 * ciphertext being the whole original payload (metadata and data), proto-encoded. The key id is
 * also the GCM additional data, so a payload relabelled with another key id fails to decrypt
 * instead of being read with the wrong key.
 *
 * Rotation: the first key encrypts, every key decrypts. Add a new key in front, keep the old
 * ones until no retained history (the namespace retention) still holds payloads they encrypted.
 *
 * Key material never appears in an error, a log line or `JSON.stringify` of the configuration.
 */
import crypto from 'node:crypto';
import { inspect } from 'node:util';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { PayloadDecryptionError } from '../errors';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One AES-256 key and its id. Printing it (JSON, util.inspect, a log line) shows the id only. */
export class EncryptionKey {
  readonly #key: Buffer;
  constructor(
    readonly id: string,
    key: Buffer,
  ) {
    if (!KEY_ID.test(id)) throw new RangeError(`invalid encryption key id ${JSON.stringify(id)}`);
    if (key.length !== KEY_BYTES) throw new RangeError(`encryption key ${id}: expected ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }
  /** The key bytes, for the cipher only. */
  material(): Buffer {
    return this.#key;
  }
  toJSON(): { id: string; key: string } {
    return { id: this.id, key: '***' };
  }
  [inspect.custom](): string {
    return `EncryptionKey(${this.id}, ***)`;
  }
}

/**
 * Parses a key list: entries `id:base64` (32 bytes each, e.g. `openssl rand -base64 32`),
 * separated by commas or new lines; blank lines and `#` comment lines are skipped. The first
 * entry encrypts. Returns the keys, or the problems (naming entries by position and id, never
 * quoting key material) so that configuration can report them with the rest.
 */
export function parseEncryptionKeys(text: string): { keys: EncryptionKey[] } | { problems: string[] } {
  const entries = text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  const problems: string[] = [];
  const keys: EncryptionKey[] = [];
  const seen = new Set<string>();
  const fix = `expected id:base64 of ${KEY_BYTES} random bytes, e.g. k2:$(openssl rand -base64 ${KEY_BYTES})`;
  entries.forEach((entry, i) => {
    const n = `entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      problems.push(`${n} has no key id: ${fix}`);
      return;
    }
    const id = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      problems.push(`${n}: key id ${JSON.stringify(id.slice(0, 70))} must be 1-64 letters, digits, . _ -`);
      return;
    }
    const named = `${n} (key id ${id})`;
    if (seen.has(id)) {
      problems.push(`${named}: the id is used twice; give every key its own id`);
      return;
    }
    seen.add(id);
    if (!BASE64.test(b64)) {
      problems.push(`${named}: the key is not valid base64; ${fix}`);
      return;
    }
    const key = Buffer.from(b64, 'base64');
    if (key.length !== KEY_BYTES) {
      problems.push(`${named}: the key is ${key.length} bytes; ${fix}`);
      return;
    }
    keys.push(new EncryptionKey(id, key));
  });
  if (entries.length === 0) problems.push(`no key given; ${fix}`);
  return problems.length > 0 ? { problems } : { keys };
}

function metadataString(payload: Payload, key: string): string | undefined {
  const v = payload.metadata?.[key];
  return v ? Buffer.from(v).toString('utf8') : undefined;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, EncryptionKey>;
  private readonly current: EncryptionKey;

  /** `keys[0]` encrypts; all of them decrypt. */
  constructor(keys: readonly EncryptionKey[]) {
    const [first] = keys;
    if (!first) throw new RangeError('EncryptionCodec needs at least one key');
    this.current = first;
    this.byId = new Map(keys.map((k) => [k.id, k]));
  }

  /** The id of the key that encrypts. */
  get keyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const key = this.current;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key.material(), iv);
    cipher.setAAD(Buffer.from(key.id, 'utf8'));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [METADATA_KEY_ID]: Buffer.from(key.id),
      },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    // Payloads written before encryption was turned on stay readable.
    if (metadataString(payload, METADATA_ENCODING_KEY) !== ENCRYPTED_ENCODING) return payload;
    const id = metadataString(payload, METADATA_KEY_ID);
    if (id === undefined) {
      throw new PayloadDecryptionError(`an encrypted payload has no ${METADATA_KEY_ID} in its metadata`);
    }
    const key = this.byId.get(id);
    if (!key) {
      throw new PayloadDecryptionError(
        `a payload is encrypted with key id ${JSON.stringify(id)}, which is not among the configured keys ` +
          `(${[...this.byId.keys()].join(', ')}): add that key to IDEM_ENCRYPTION_KEYS (after the first) to read it`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(`a payload encrypted with key id ${id} is too short to be valid`);
    }
    const decipher = crypto.createDecipheriv('aes-256-gcm', key.material(), data.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new PayloadDecryptionError(
        `a payload encrypted with key id ${id} failed authentication: it was altered, or the key with that id is not the one that encrypted it`,
      );
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: decoded.metadata ?? {}, data: decoded.data ?? new Uint8Array() };
  }
}
