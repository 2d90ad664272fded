import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { hashKeyOf, parseSequence, stringifySequence } from '#local/emulators/kinesalite-sequences.ts';
import { seededRandom } from '#test/helpers/random.ts';

type Parse = ((sequence: string) => Record<string, unknown>) & { original?: Parse };
type Stringify = ((fields: Record<string, unknown>) => string) & { original?: Stringify };
type HashKey = { toFixed(): string; comparedTo(other: string): number };
type HashKeyOf = ((partitionKey: string) => HashKey) & { original?: HashKeyOf };

const kinesaliteRequire = createRequire(createRequire(import.meta.url).resolve('kinesalite/db'));
const db = kinesaliteRequire('./index.js') as {
  parseSequence: Parse;
  stringifySequence: Stringify;
  partitionKeyToHashKey: HashKeyOf;
};
const BigNumber = kinesaliteRequire('bignumber.js') as new (value: string) => HashKey;
/** kinesalite's own functions, whether or not another test in this process has put the faster ones in place. */
const original = {
  parse: ((sequence: string) => (db.parseSequence.original ?? db.parseSequence)(sequence)) as Parse,
  stringify: ((fields: Record<string, unknown>) =>
    (db.stringifySequence.original ?? db.stringifySequence)(fields)) as Stringify,
  hashKey: (key: string) => (db.partitionKeyToHashKey.original ?? db.partitionKeyToHashKey)(key),
};
/** Stands for kinesalite's function where the fast path must answer alone. */
const notCalled = (): never => {
  throw new Error("went to kinesalite's own function");
};

/** What a call answered, or the message it threw. */
const outcome = (call: () => unknown): { value: unknown } | { thrown: string } => {
  try {
    return { value: call() };
  } catch (error) {
    return { thrown: (error as Error).message };
  }
};

const random = seededRandom(20261129);
const between = (low: number, high: number) => low + Math.floor(random() * (high - low));
const hex = (digits: number) => Array.from({ length: digits }, () => between(0, 16).toString(16)).join('');

/** Fields as kinesalite's actions pass them: its shards, its counters, its clock. */
const versionTwoFields = (): Record<string, unknown> => {
  const shardCreateTime = between(1_300_000_000, 2_000_000_000) * 1000 + between(0, 1000);
  const seqIx = [
    between(0, 100),
    between(0, 2 ** 31),
    between(0, 2 ** 21) * 2 ** 32 + between(0, 2 ** 32),
    String(BigInt(`0x${between(0, 8).toString(16)}${hex(15)}`)),
  ][between(0, 4)];
  return {
    shardCreateTime,
    shardIx: [0, 1, between(0, 50), between(0, 2 ** 31)][between(0, 4)],
    seqIx,
    seqTime: random() < 0.2 ? undefined : shardCreateTime + between(0, 10 ** 9),
    ...(random() < 0.3 ? { byte1: hex(2) } : {}),
    ...(random() < 0.2 ? { version: 2 } : {}),
  };
};

describe("kinesalite's sequence arithmetic on big integers", () => {
  it('writes version 2 sequence numbers as kinesalite does, and reads them back as it does', () => {
    for (let i = 0; i < 3000; i += 1) {
      const fields = versionTwoFields();
      const sequence = stringifySequence(fields, notCalled);
      expect(sequence, JSON.stringify(fields)).toBe(original.stringify(fields));
      expect(parseSequence(sequence, notCalled)).toEqual(original.parse(sequence));
    }
  });

  it('reads the numbers of a shard whose start was parsed into a string index, and of times before 2^124', () => {
    const start = original.stringify({ shardCreateTime: 1_700_000_000_000, shardIx: 3 });
    const parsed = parseSequence(start, notCalled);
    expect(parsed).toEqual(original.parse(start));
    const next = stringifySequence({ ...parsed, seqIx: parsed.seqIx, version: undefined }, notCalled);
    expect(next).toBe(original.stringify({ ...parsed, version: undefined }));
    // Below 2^129 a number is of version 0 (kinesalite adds 2^124 to a smaller one first): kinesalite's to read.
    for (const small of ['0', '1', String(2n ** 124n - 1n), String(2n ** 129n - 1n)]) {
      expect(() => parseSequence(small, notCalled)).toThrow("went to kinesalite's own function");
      expect(outcome(() => parseSequence(small, original.parse))).toEqual(
        outcome(() => original.parse(small)),
      );
    }
  });

  it("leaves other versions, and fields that are not kinesalite's own, to kinesalite", () => {
    const versionOne = original.stringify({
      version: 1,
      shardCreateTime: 1_700_000_000_000,
      shardIx: 2,
      seqIx: 5,
    });
    const versionZero = original.stringify({ version: 0, shardCreateTime: 1_700_000_000_000, shardIx: 2 });
    for (const sequence of [versionOne, versionZero]) {
      expect(() => parseSequence(sequence, notCalled)).toThrow("went to kinesalite's own function");
      expect(parseSequence(sequence, original.parse)).toEqual(original.parse(sequence));
    }
    const odd: Array<Record<string, unknown>> = [
      { version: 1, shardCreateTime: 1_700_000_000_000, shardIx: 2 },
      { shardCreateTime: 1_700_000_000_000, shardIx: -1 },
      { shardCreateTime: 1_700_000_000_000, seqIx: -3 },
      { shardCreateTime: 1_700_000_000_000, seqIx: 1.5 },
      { shardCreateTime: 1_700_000_000_000, seqIx: 'not a number' },
      { shardCreateTime: 1_700_000_000_000, byte1: 'zz' },
      { shardCreateTime: undefined },
    ];
    for (const fields of odd) {
      expect(() => stringifySequence(fields, notCalled)).toThrow("went to kinesalite's own function");
      expect(outcome(() => stringifySequence(fields, original.stringify))).toEqual(
        outcome(() => original.stringify(fields)),
      );
    }
  });

  it('answers or throws as kinesalite does for text that is not one of its numbers', () => {
    const tooHighIndex =
      BigInt(original.stringify({ shardCreateTime: 1_700_000_000_000, shardIx: 1 })) + (8n << 140n);
    const cases = ['', 'abc', '1.5', '-5', '1e60', ' 12', '1'.repeat(80), String(tooHighIndex)];
    for (const sequence of cases) {
      expect(
        outcome(() => parseSequence(sequence, original.parse)),
        sequence,
      ).toEqual(outcome(() => original.parse(sequence)));
    }
    expect(() => parseSequence(String(tooHighIndex), notCalled)).toThrow('Sequence index too high');
    expect(() => parseSequence('1'.repeat(80), original.parse)).toThrow('Unknown version');
  });

  it("reads a partition key's MD5 as the number kinesalite reads, of the type it compares with", () => {
    const keys = [
      '',
      'user-1',
      'a'.repeat(256),
      'ключ-💡',
      ...Array.from({ length: 2000 }, () => hex(between(1, 40))),
    ];
    const bounds = ['0', '85070591730234615865843651857942052863', '170141183460469231731687303715884105728'];
    for (const key of keys) {
      const fast = hashKeyOf(key, BigNumber) as HashKey;
      const theirs = original.hashKey(key);
      expect(fast).toBeInstanceOf(BigNumber);
      expect(fast.toFixed()).toBe(theirs.toFixed());
      for (const bound of bounds) expect(fast.comparedTo(bound)).toBe(theirs.comparedTo(bound));
    }
  });
});
