import crypto from 'node:crypto';
import { inspect } from 'node:util';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { PayloadDecryptionError } from '../../src/errors';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  EncryptionKey,
  METADATA_KEY_ID,
  parseEncryptionKeys,
} from '../../src/temporal/encryption-codec';

const key = (id: string) => new EncryptionKey(id, crypto.randomBytes(32));
const text = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? []).toString();
const event = { id: 'e-1', data: { account: 'acct-secret-123', amount: 4200 } };

test('round trip: the payload comes back as it was, and its data is not in the ciphertext', async () => {
  const codec = new EncryptionCodec([key('k1')]);
  const original = defaultPayloadConverter.toPayload(event);
  const [sealed] = await codec.encode([original]);
  expect(text(sealed!, METADATA_ENCODING_KEY)).toBe(ENCRYPTED_ENCODING);
  expect(text(sealed!, METADATA_KEY_ID)).toBe('k1');
  expect(Buffer.from(sealed!.data!).includes('acct-secret-123')).toBe(false);
  // The original's metadata (json/plain) is inside the ciphertext, not beside it.
  expect(Object.keys(sealed!.metadata!).sort()).toEqual([METADATA_ENCODING_KEY, METADATA_KEY_ID].sort());
  const [opened] = await codec.decode([sealed!]);
  expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(event);
  expect(text(opened!, METADATA_ENCODING_KEY)).toBe('json/plain');
});

test('a fresh IV per payload: the same value encrypts differently each time', async () => {
  const codec = new EncryptionCodec([key('k1')]);
  const p = defaultPayloadConverter.toPayload(event);
  const [a, b] = await codec.encode([p, p]);
  expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
});

test('rotation: the new key encrypts, payloads of the old key still decrypt', async () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const before = new EncryptionCodec([k1]);
  const after = new EncryptionCodec([k2, k1]);
  const [old] = await before.encode([defaultPayloadConverter.toPayload(event)]);
  const [fresh] = await after.encode([defaultPayloadConverter.toPayload(event)]);
  expect(text(fresh!, METADATA_KEY_ID)).toBe('k2');
  const [a, b] = await after.decode([old!, fresh!]);
  expect(defaultPayloadConverter.fromPayload(a!)).toEqual(event);
  expect(defaultPayloadConverter.fromPayload(b!)).toEqual(event);
  // A process that has only the old key cannot read the new payloads, and says which key it lacks.
  await expect(before.decode([fresh!])).rejects.toThrow(
    /key id "k2", which is not among the configured keys \(k1\)/,
  );
});

test('payloads written before encryption was turned on pass through decode unchanged', async () => {
  const codec = new EncryptionCodec([key('k1')]);
  const plain = defaultPayloadConverter.toPayload(event);
  expect(await codec.decode([plain])).toEqual([plain]);
});

test.each([
  ['a flipped ciphertext byte', (d: Buffer) => (d[20] = d[20]! ^ 1)],
  ['a flipped IV byte', (d: Buffer) => (d[0] = d[0]! ^ 1)],
  ['a flipped tag byte', (d: Buffer) => (d[d.length - 1] = d[d.length - 1]! ^ 1)],
])('tamper detection: %s fails authentication', async (_what, tamper) => {
  const codec = new EncryptionCodec([key('k1')]);
  const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(event)]);
  const data = Buffer.from(sealed!.data!);
  tamper(data);
  const err = await codec.decode([{ ...sealed!, data }]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PayloadDecryptionError);
  expect((err as Error).message).toMatch(/key id k1 failed authentication/);
});

test('a payload relabelled with another configured key id fails (the key id is authenticated)', async () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const codec = new EncryptionCodec([k1, k2]);
  const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(event)]);
  const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [METADATA_KEY_ID]: Buffer.from('k2') } };
  await expect(codec.decode([relabelled])).rejects.toThrow(/key id k2 failed authentication/);
  // The same bytes under the same id, but a different key: same answer.
  const other = new EncryptionCodec([new EncryptionKey('k1', crypto.randomBytes(32))]);
  await expect(other.decode([sealed!])).rejects.toThrow(PayloadDecryptionError);
});

test('an unknown key id fails with an error naming it; a missing key id and a short payload too', async () => {
  const codec = new EncryptionCodec([key('k1')]);
  const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(event)]);
  const unknown = { ...sealed!, metadata: { ...sealed!.metadata, [METADATA_KEY_ID]: Buffer.from('k9') } };
  await expect(codec.decode([unknown])).rejects.toThrow(
    'a payload is encrypted with key id "k9", which is not among the configured keys (k1)',
  );
  const noId = { ...sealed!, metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING) } };
  await expect(codec.decode([noId])).rejects.toThrow(/no encryption-key-id/);
  await expect(codec.decode([{ ...sealed!, data: Buffer.alloc(10) }])).rejects.toThrow(/too short/);
});

describe('parseEncryptionKeys', () => {
  const b64 = (n = 32) => crypto.randomBytes(n).toString('base64');

  test('comma- or line-separated id:base64 entries; the first one encrypts', () => {
    const k1 = b64();
    const parsed = parseEncryptionKeys(`k2:${b64()}, k1:${k1}\n# old one below\nk0:${b64()}\n`);
    expect('keys' in parsed && parsed.keys.map((k) => k.id)).toEqual(['k2', 'k1', 'k0']);
    const keys = (parsed as { keys: EncryptionKey[] }).keys;
    expect(keys[1]!.material().equals(Buffer.from(k1, 'base64'))).toBe(true);
    expect(new EncryptionCodec(keys).keyId).toBe('k2');
  });

  test('every bad entry is reported, by position and id, and no key material is quoted', () => {
    const short = b64(16);
    const good = b64();
    const parsed = parseEncryptionKeys(
      `k1:${short},${good},k2:not*base64,k3:${good},k3:${b64()},bad id:${b64()}`,
    );
    expect('problems' in parsed).toBe(true);
    const problems = (parsed as { problems: string[] }).problems;
    expect(problems).toEqual([
      expect.stringMatching(
        /^entry 1 \(key id k1\): the key is 16 bytes; expected id:base64 of 32 random bytes/,
      ),
      expect.stringMatching(/^entry 2 has no key id/),
      expect.stringMatching(/^entry 3 \(key id k2\): the key is not valid base64/),
      expect.stringMatching(/^entry 5 \(key id k3\): the id is used twice/),
      expect.stringMatching(/^entry 6: key id "bad id" must be/),
    ]);
    const all = problems.join('\n');
    for (const secret of [short, good, good.slice(0, 12), 'not*base64']) expect(all).not.toContain(secret);
  });

  test('an empty list is refused', () => {
    expect(parseEncryptionKeys(' , \n')).toEqual({ problems: [expect.stringMatching(/^no key given/)] });
  });

  test('a key prints as its id only', () => {
    const material = b64();
    const k = (parseEncryptionKeys(`k1:${material}`) as { keys: EncryptionKey[] }).keys[0]!;
    expect(JSON.stringify({ k })).toBe('{"k":{"id":"k1","key":"***"}}');
    expect(inspect(k)).toBe('EncryptionKey(k1, ***)');
    expect(inspect({ k }, { showHidden: true })).not.toContain(material.slice(0, 10));
  });
});
