/**
 * The KRaft cluster id `idem stack up` and the secure-server tests format Kafka's storage with.
 * One random id in 64 starts with '-' in URL-safe base64, and StorageTool's parser reads
 * `-t -3cw…` as a missing argument ("argument --cluster-id/-t: expected one argument"): a CI
 * run failed that way. The id is drawn again until it does not.
 */
import { kafkaClusterId } from '../../src/stack/kafka';

test('an id that would start with a dash is drawn again', () => {
  // 0xf8 encodes as '-' (62) in the first base64url character.
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x0c)];
  const random = () => draws.shift()!;
  expect(Buffer.alloc(16, 0xf8).toString('base64url')).toMatch(/^-/);
  expect(kafkaClusterId(random)).toBe(Buffer.alloc(16, 0x0c).toString('base64url'));
  expect(draws).toHaveLength(0);
});

test('an id is 16 random bytes: 22 URL-safe base64 characters', () => {
  const id = kafkaClusterId();
  expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  expect(Buffer.from(id, 'base64url')).toHaveLength(16);
});
