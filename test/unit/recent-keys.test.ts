import { RecentKeys } from '../../src/ingest/recent-keys';

test('remembers keys up to its bound, forgetting the oldest first', () => {
  const r = new RecentKeys(3);
  for (const k of ['a', 'b', 'c']) r.add(k);
  r.add('b'); // already there: no change of order or size
  expect(r.size).toBe(3);
  r.add('d');
  expect(r.has('a')).toBe(false);
  expect(['b', 'c', 'd'].every((k) => r.has(k))).toBe(true);
  expect(r.size).toBe(3);
});
