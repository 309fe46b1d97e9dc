import { lastResult, sqlLiteral } from '../../src/store/sql/literal';

describe('sqlLiteral', () => {
  it('quotes strings so that they never leave their quotes', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'");
    expect(sqlLiteral("a\\'; drop table outbox; --")).toBe(" E'a\\\\''; drop table outbox; --'");
    expect(sqlLiteral('🦆 é')).toBe("'🦆 é'");
  });

  it('writes integers and null as they are', () => {
    expect(sqlLiteral(42)).toBe('42');
    expect(sqlLiteral(-1)).toBe('-1');
    expect(sqlLiteral(null)).toBe('null');
  });

  it('refuses what PostgreSQL text cannot hold or what is not an integer', () => {
    expect(() => sqlLiteral('a\0b')).toThrow(/NUL/);
    expect(() => sqlLiteral(1.5)).toThrow(TypeError);
    expect(() => sqlLiteral(Number.NaN)).toThrow(TypeError);
  });
});

describe('lastResult', () => {
  it("takes the last statement's result of several, or the one", () => {
    expect(lastResult([{ n: 1 }, { n: 2 }])).toEqual({ n: 2 });
    expect(lastResult({ n: 3 })).toEqual({ n: 3 });
    expect(() => lastResult([])).toThrow();
  });
});
