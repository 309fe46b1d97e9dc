import fc from 'fast-check';

import { dedupKeyFor, redriveWorkflowIdFor, workflowIdFor } from '../../src/events/identity';

// Strings biased towards the interesting characters: ':' (the separator), safe
// characters, unicode (BMP and astral) and lone surrogates.
const part = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'b', ':', '-', '/'), maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({
    unit: fc.constantFrom('a', ':', 'é', '😀', '\uD800', '\uDC00', '\uFFFD', ' '),
    maxLength: 6,
  }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ maxLength: 250 }),
);

/**
 * These expectations pin the dedup-key format. If one of them fails, the change
 * would make already-processed events look new and apply them again: do not
 * "fix" the expectation, revert the change. The hash values were computed
 * independently (Python hashlib), see the formula in src/events/identity.ts.
 */
describe('workflowIdFor: pinned format (the dedup key must never change)', () => {
  test.each([
    // readable form
    ['orders', 'order-1', 'event:orders:order-1'],
    ['/myapp/orders', 'a:b:c', 'event:/myapp/orders:a:b:c'],
    ['svc@eu-1', 'A.b_c~d+e=f', 'event:svc@eu-1:A.b_c~d+e=f'],
    ['s', 'x'.repeat(192), `event:s:${'x'.repeat(192)}`],
    // hash form: source contains ':' (the readable form would be ambiguous)
    ['a:b', 'c', 'event-sha256:f4f368d696531a9341e2b96b1030c2e3c21ca3d07c29b27e339ac5244c976e60'],
    [
      'https://example.com/orders',
      'order-1',
      'event-sha256:b566456d5f70cd17da06f9137ab45ba82567bfdc75476346071a799bda168d13',
    ],
    // hash form: characters outside the safe set
    [
      'orders',
      'id with space',
      'event-sha256:124adaa39cb8cdee9c3f163a734fb9df81ab583af963e2b120b0238223563ced',
    ],
    ['sourcé', '1', 'event-sha256:3f0c4befe1c5e48a14d80d66b000fecad468426ba5b0361f47029572ba21188c'],
    // hash form: readable form would be 203 characters (the case before is exactly 200)
    ['s', 'x'.repeat(195), 'event-sha256:919c9d1aed19db550e6cbff5fb02bdf16b54c1d197656e56e43aad25934e9e0d'],
  ])('case %#: (%j, …) → %s', (source, id, expected) => {
    expect(workflowIdFor(source, id)).toBe(expected);
  });

  test('is deterministic', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (source, id) => {
        expect(workflowIdFor(source, id)).toBe(workflowIdFor(source, id));
      }),
    );
  });

  test('dedupKeyFor is the same string as the workflow ID', () => {
    expect(dedupKeyFor('orders', 'order-1')).toBe('event:orders:order-1');
    expect(dedupKeyFor('a:b', 'c')).toBe(workflowIdFor('a:b', 'c'));
  });
});

describe('workflowIdFor: distinct events get distinct IDs', () => {
  test('the ambiguous split of event:a:b:c maps to different IDs', () => {
    expect(workflowIdFor('a', 'b:c')).toBe('event:a:b:c');
    expect(workflowIdFor('a:b', 'c')).not.toBe('event:a:b:c');
    expect(workflowIdFor('a:b', 'c')).not.toBe(workflowIdFor('a', 'b:c'));
  });

  test('empty parts take the hash form and stay distinct', () => {
    const ids = [
      workflowIdFor('', 'a'),
      workflowIdFor('a', ''),
      workflowIdFor('', ''),
      workflowIdFor('a', 'a'),
    ];
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]).toMatch(/^event-sha256:[0-9a-f]{64}$/);
  });

  test('a readable ID that looks like a hash never equals a real hash ID', () => {
    const hashed = workflowIdFor('a:b', 'c');
    // The readable form always starts "event:", the hash form "event-": no source can bridge them.
    expect(workflowIdFor('event-sha256', hashed.slice('event-sha256:'.length))).not.toBe(hashed);
  });

  // Pairs that a reader, or a naive `${source}:${id}`, would take for one another; idem
  // normalizes nothing (not case, not Unicode), so each pair is two events.
  test.each([
    ['the separator moved into the source', ['a:b', 'c'], ['a', 'b:c']],
    ['two separators, split elsewhere', ['a:b:c', 'd'], ['a', 'b:c:d']],
    ['a trailing versus a leading separator', ['a:', 'b'], ['a', ':b']],
    ['an empty source versus an empty id', ['', 'a'], ['a', '']],
    ['the same characters split elsewhere, both hashed', ['x y', 'z'], ['x', ' yz']],
    ['a NUL moved across the boundary', ['a\0', 'b'], ['a', '\0b']],
    ['a fullwidth colon moved across the boundary', ['a\uFF1Ab', 'c'], ['a', 'b\uFF1Ac']],
    ['composed versus decomposed é (NFC, NFD)', ['s', 'caf\u00E9'], ['s', 'cafe\u0301']],
    ['Latin a versus Cyrillic а', ['orders', 'a-1'], ['orders', '\u0430-1']],
    ['case in the source', ['Orders', '1'], ['orders', '1']],
    ['case in the id', ['orders', 'ABC'], ['orders', 'abc']],
    ['a trailing space', ['orders', '1 '], ['orders', '1']],
    ['an unpaired surrogate versus U+FFFD', ['s', '\uD800'], ['s', '\uFFFD']],
    ['a lone high versus a lone low surrogate', ['s', '\uD800'], ['s', '\uDC00']],
  ])('%s: %j and %j stay apart', (_what, [s1, i1], [s2, i2]) => {
    expect(workflowIdFor(s1 as string, i1 as string)).not.toBe(workflowIdFor(s2 as string, i2 as string));
  });

  test('the readable form is used exactly when it is safe, the hash form otherwise', () => {
    // Safe: a non-empty source of ASCII letters, digits and ._~/@+=- (no ':', so the
    // first ':' ends it), a non-empty id of the same or ':', at most 200 characters in all.
    const safe = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~/@+=-';
    const isSafe = (source: string, id: string) =>
      source.length > 0 &&
      id.length > 0 &&
      [...source].every((c) => safe.includes(c)) &&
      [...id].every((c) => c === ':' || safe.includes(c)) &&
      `event:${source}:${id}`.length <= 200;
    const safeish = fc.string({ unit: fc.constantFrom(...safe, ':', ' ', 'é'), maxLength: 200 });
    fc.assert(
      fc.property(fc.oneof(part, safeish), fc.oneof(part, safeish), (source, id) => {
        const wid = workflowIdFor(source, id);
        if (isSafe(source, id)) expect(wid).toBe(`event:${source}:${id}`);
        else expect(wid).toMatch(/^event-sha256:[0-9a-f]{64}$/);
      }),
      { numRuns: 3000 },
    );
  });

  test('readable IDs can be split back into the pair (injectivity of the readable form)', () => {
    fc.assert(
      fc.property(part, part, (source, id) => {
        const wid = workflowIdFor(source, id);
        if (wid.startsWith('event:')) {
          const rest = wid.slice('event:'.length);
          const sep = rest.indexOf(':');
          expect([rest.slice(0, sep), rest.slice(sep + 1)]).toEqual([source, id]);
        } else {
          expect(wid).toMatch(/^event-sha256:[0-9a-f]{64}$/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('workflowIdFor: length', () => {
  test('1,000-character sources and ids give IDs of at most 1,000 characters', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1000, maxLength: 1000 }),
        fc.string({ minLength: 1000, maxLength: 1000 }),
        (s, i) => {
          expect(workflowIdFor(s, i).length).toBeLessThanOrEqual(1000);
          expect(workflowIdFor('orders', i).length).toBeLessThanOrEqual(1000);
        },
      ),
      { numRuns: 50 },
    );
    expect(workflowIdFor('orders', 'x'.repeat(1000))).toMatch(/^event-sha256:[0-9a-f]{64}$/);
    expect(workflowIdFor('😀'.repeat(1000), '😀'.repeat(1000))).toHaveLength(77);
  });

  test('every ID is at most 200 characters', () => {
    fc.assert(
      fc.property(part, part, (s, i) => {
        expect(workflowIdFor(s, i).length).toBeLessThanOrEqual(200);
      }),
    );
  });
});

describe('redriveWorkflowIdFor', () => {
  test.each([
    ['event:orders:order-1', 0, '0', 'redrive:0:0:event:orders:order-1'],
    [
      'event-sha256:f4f368d696531a9341e2b96b1030c2e3c21ca3d07c29b27e339ac5244c976e60',
      7,
      '123456789012',
      'redrive:7:123456789012:event-sha256:f4f368d696531a9341e2b96b1030c2e3c21ca3d07c29b27e339ac5244c976e60',
    ],
    // not made of safe characters → hash form
    [
      'event:x:y z',
      3,
      '42',
      'redrive-sha256:b8786086e9dd6379b0073b5574baae27be84886f5c826bd777fc32780704d774',
    ],
  ])('(%s, %d, %s) → %s', (base, partition, offset, expected) => {
    expect(redriveWorkflowIdFor(base, partition, offset)).toBe(expected);
  });

  test('stays readable for every event ID, including the longest readable one', () => {
    const base = workflowIdFor('s', 'x'.repeat(192));
    expect(redriveWorkflowIdFor(base, 2147483647, '9223372036854775807')).toBe(
      `redrive:2147483647:9223372036854775807:${base}`,
    );
  });

  test('long or unusual bases are hashed, within 1,000 characters', () => {
    const id = redriveWorkflowIdFor('b'.repeat(5000), 1, '2');
    expect(id).toMatch(/^redrive-sha256:[0-9a-f]{64}$/);
  });

  test('distinct (base, partition, offset) give distinct IDs and never an event ID', () => {
    const base = fc.oneof(
      fc.string({ unit: fc.constantFrom('e', ':', '1', ' '), minLength: 1, maxLength: 10 }),
      fc.string({ minLength: 1, maxLength: 300 }),
    );
    const offset = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String);
    const partition = fc.integer({ min: 0, max: 0x7fffffff });
    fc.assert(
      fc.property(base, partition, offset, base, partition, offset, (b1, p1, o1, b2, p2, o2) => {
        fc.pre(b1 !== b2 || p1 !== p2 || o1 !== o2);
        const r1 = redriveWorkflowIdFor(b1, p1, o1);
        expect(r1).not.toBe(redriveWorkflowIdFor(b2, p2, o2));
        expect(r1.startsWith('redrive')).toBe(true);
        expect(r1.length).toBeLessThanOrEqual(1000);
      }),
      { numRuns: 2000 },
    );
  });

  test.each([
    ['event:a:b', -1, '0'],
    ['event:a:b', 1.5, '0'],
    ['event:a:b', Number.NaN, '0'],
    ['event:a:b', 0, '007'],
    ['event:a:b', 0, '-1'],
    ['event:a:b', 0, ''],
    ['', 0, '0'],
  ])('rejects invalid input (%j, %d, %j)', (base, partition, offset) => {
    expect(() => redriveWorkflowIdFor(base, partition, offset)).toThrow(RangeError);
  });
});
