import { createHash } from 'node:crypto';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import aggregation from 'aws-kinesis-agg';
import { describe, expect, it } from 'vitest';
import {
  isKplAggregate,
  KPL_MAGIC,
  KplAggregateError,
  readKplAggregate,
} from '#shared/events/kpl-aggregate.ts';
import { deaggregate, decodeStreamRecord } from '#shared/events/stream-record.ts';
import { kplAggregate, sequenceNumber, streamRecord } from '#test/helpers/kinesis-factories.ts';
import { seededRandom } from '#test/helpers/random.ts';

type Outcome =
  | { whole: string }
  | { users: Array<{ partitionKey: string | undefined; data: string } | 'error'> };

/** What aws-kinesis-agg's deaggregation makes of the bytes (its callbacks run synchronously). */
const libraryRead = (data: Buffer): Outcome => {
  const users: Array<{ partitionKey: string | undefined; data: string } | 'error'> = [];
  let whole: string | undefined;
  aggregation.deaggregate(
    { partitionKey: 'outer', sequenceNumber: '1', data: data.toString('base64') } as never,
    true,
    (error, user) => {
      users.push(error || !user ? 'error' : { partitionKey: user.partitionKey, data: user.data });
    },
    (error, failed) => {
      if (!error) return;
      if (failed === undefined) whole = error.message;
      else users.push('error');
    },
  );
  return whole === undefined ? { users } : { whole };
};

/** What readKplAggregate makes of the same bytes, in the same shape. */
const ownRead = (data: Buffer): Outcome => {
  try {
    return {
      users: readKplAggregate(data).map((user) =>
        user instanceof Error
          ? 'error'
          : { partitionKey: user.partitionKey, data: Buffer.from(user.data).toString('base64') },
      ),
    };
  } catch (error) {
    expect(error).toBeInstanceOf(KplAggregateError);
    return { whole: (error as Error).message };
  }
};

/** An aggregate around a protobuf message written by hand: magic number, message, MD5 of the message. */
const aggregateOf = (message: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from(KPL_MAGIC), message, createHash('md5').update(message).digest()]);

/** A `Record` message: the fields given, in order. */
const recordMessage = (write: (writer: BinaryWriter) => void): Uint8Array => {
  const writer = new BinaryWriter();
  write(writer);
  return writer.finish();
};

/** An `AggregatedRecord` with a key table and records. */
const aggregatedRecord = (keys: string[], records: Uint8Array[], extra?: (writer: BinaryWriter) => void) => {
  const writer = new BinaryWriter();
  for (const key of keys) writer.tag(1, WireType.LengthDelimited).string(key);
  for (const record of records) writer.tag(3, WireType.LengthDelimited).bytes(record);
  extra?.(writer);
  return writer.finish();
};

const plainRecord = (keyIndex: number, data: string) =>
  recordMessage((w) =>
    w.tag(1, WireType.Varint).uint64(keyIndex).tag(3, WireType.LengthDelimited).bytes(Buffer.from(data)),
  );

const texts = (users: ReturnType<typeof readKplAggregate>) =>
  users.map((user) =>
    user instanceof Error ? user.message : `${user.partitionKey}=${Buffer.from(user.data).toString()}`,
  );

describe('KPL aggregates', () => {
  it('reads what aws-kinesis-agg aggregates exactly as aws-kinesis-agg reads it back', () => {
    // Prepare: keys shared between records (one key table entry), explicit hash keys, empty and large data,
    // keys with characters outside ASCII.
    const random = seededRandom(20_261_129);
    const keys = ['user-1', 'user-2', 'ключ', '🔑-emoji', 'k'.repeat(256), 'a b/c=d'];
    for (let round = 0; round < 200; round += 1) {
      const users = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => {
        const size = random() < 0.1 ? 0 : Math.floor(random() * (random() < 0.1 ? 20_000 : 300));
        return {
          partitionKey: keys[Math.floor(random() * keys.length)] as string,
          ...(random() < 0.3 ? { explicitHashKey: String(Math.floor(random() * 2 ** 52)) } : {}),
          data: Buffer.from(Array.from({ length: size }, () => Math.floor(random() * 256))),
          round: `${round}.${i}`,
        };
      });
      const aggregate = kplAggregate(users);
      // Act
      const own = ownRead(aggregate);
      // Assess
      expect(own, `round ${round}`).toEqual(libraryRead(aggregate));
      expect(own).toEqual({
        users: users.map((user) => ({ partitionKey: user.partitionKey, data: user.data.toString('base64') })),
      });
    }
  });

  it('agrees with aws-kinesis-agg on every user record both read out of thousands of altered aggregates', () => {
    // Prepare: bytes of the protobuf message changed, with the checksum made to match, so the reader's own
    // checks are what is tested.
    const random = seededRandom(424_242);
    const tally = { bothRead: 0, bothRefused: 0, onlyLibraryRead: 0, onlyOwnRead: 0 };
    for (let round = 0; round < 3_000; round += 1) {
      const original = kplAggregate(
        Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) => ({
          partitionKey: `key-${Math.floor(random() * 3)}`,
          data: Buffer.from(`{"n":${round},"i":${i}}`),
        })),
      );
      const message = Buffer.from(original.subarray(KPL_MAGIC.length, original.length - 16));
      for (let changes = 1 + Math.floor(random() * 3); changes > 0; changes -= 1) {
        message[Math.floor(random() * message.length)] = Math.floor(random() * 256);
      }
      const altered = aggregateOf(message);
      // Act
      const own = ownRead(altered);
      const library = libraryRead(altered);
      // Assess: a user record read by both is the same record; one only this reader refuses is one the library
      // gives without a partition key or without data.
      const ownUsers = 'users' in own ? own.users : [];
      const libraryUsers = 'users' in library ? library.users : [];
      for (const [index, user] of ownUsers.entries()) {
        const theirs = libraryUsers[index];
        if (user !== 'error' && theirs !== undefined && theirs !== 'error') {
          expect(user, `round ${round}, user record ${index}`).toEqual(theirs);
          tally.bothRead += 1;
        } else if (user === 'error' && theirs !== undefined && theirs !== 'error') {
          tally.onlyLibraryRead += 1;
          expect(theirs.partitionKey === undefined || theirs.data === '', `round ${round}, ${index}`).toBe(
            true,
          );
        } else if (user !== 'error') {
          // The library refused the whole aggregate, over a user record this reader refuses alone or over a
          // field this reader skips (tags, explicit hash keys, known fields in another wire type).
          expect(library, `round ${round}, ${index}`).toHaveProperty('whole');
          tally.onlyOwnRead += 1;
        } else tally.bothRefused += 1;
      }
      if ('whole' in own) tally.bothRefused += 'whole' in library ? 1 : 0;
    }
    // Most alterations leave records both read; the rest are refused by both, by this reader alone where the
    // library would hand on a record with no key or no data, or by the library alone as above.
    expect(tally.bothRead).toBeGreaterThan(3_000);
    expect(tally.bothRefused).toBeGreaterThan(300);
    expect(tally.onlyLibraryRead).toBeGreaterThan(0);
    expect(tally.onlyOwnRead).toBeLessThan(tally.bothRead / 50);
  });

  it('refuses a whole aggregate that is too short, whose checksum does not match, whose message is cut short or whose key is not UTF-8', () => {
    // Prepare
    const good = aggregateOf(aggregatedRecord(['k'], [plainRecord(0, 'x')]));
    const badChecksum = Buffer.from(good);
    badChecksum[badChecksum.length - 1]! ^= 0xff;
    const cut = aggregatedRecord(['k'], [plainRecord(0, 'abcdef')]).subarray(0, -3);
    // The record says it is 3 bytes long, but its data field, which starts inside it, runs on past them.
    const overrun = aggregatedRecord(['k'], [], (w) =>
      w
        .tag(3, WireType.LengthDelimited)
        .uint32(3)
        .raw(Uint8Array.of(0x08, 0x00, 0x1a, 0x05, ...Buffer.from('hello'))),
    );
    const notUtf8 = aggregatedRecord(['k'], [plainRecord(0, 'x')], (w) =>
      w.tag(1, WireType.LengthDelimited).bytes(Uint8Array.of(0x6b, 0xff, 0x6b)),
    );
    // Act and assess
    expect(() => readKplAggregate(Buffer.concat([Buffer.from(KPL_MAGIC), Buffer.alloc(10)]))).toThrow(
      'it is 14 bytes, fewer than its magic number and checksum take (20)',
    );
    expect(() => readKplAggregate(badChecksum)).toThrow('its MD5 checksum does not match its message');
    expect(() => readKplAggregate(aggregateOf(cut))).toThrow(
      'its protobuf message is malformed: premature EOF',
    );
    expect(() => readKplAggregate(aggregateOf(overrun))).toThrow(
      'its protobuf message is malformed: a field runs past the end of its record',
    );
    expect(() => readKplAggregate(aggregateOf(notUtf8))).toThrow(
      'its protobuf message is malformed: partition key 1 is not valid UTF-8',
    );
    expect(readKplAggregate(good).map((user) => (user instanceof Error ? user : user.partitionKey))).toEqual([
      'k',
    ]);
  });

  it('refuses one user record that has no data or names a key outside the table, and reads the others', () => {
    // Prepare
    const message = aggregatedRecord(
      ['a', 'b'],
      [
        plainRecord(1, 'first'),
        recordMessage((w) => w.tag(1, WireType.Varint).uint64(0)),
        plainRecord(2, 'third'),
        recordMessage((w) =>
          w
            .tag(1, WireType.Varint)
            .uint64(2n ** 63n)
            .tag(3, WireType.LengthDelimited)
            .bytes(Buffer.from('x')),
        ),
        recordMessage((w) => w.tag(3, WireType.LengthDelimited).bytes(Buffer.from('no key'))),
        plainRecord(0, 'last'),
      ],
    );
    // Act
    const users = readKplAggregate(aggregateOf(message));
    // Assess
    expect(texts(users)).toEqual([
      'b=first',
      'user record 1 has no data',
      'user record 2 names partition key 2, but the aggregate has 2',
      'user record 3 names partition key 9223372036854775808, but the aggregate has 2',
      'user record 4 has no partition key index',
      'a=last',
    ]);
  });

  it('skips fields it does not use: explicit hash keys, tags, unknown fields of every wire type, known ones in another wire type', () => {
    // Prepare
    const record = recordMessage((w) => {
      w.tag(1, WireType.Varint).uint64(0);
      w.tag(2, WireType.Varint).uint64(0);
      w.tag(4, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string('tag').join();
      w.tag(9, WireType.Bit64).fixed64(7n);
      w.tag(10, WireType.Bit32).fixed32(7);
      w.tag(11, WireType.StartGroup).tag(1, WireType.Varint).uint32(1).tag(11, WireType.EndGroup);
      // Data as a varint is not data: skipped, and the bytes that follow are the record's data.
      w.tag(3, WireType.Varint).uint32(5);
      w.tag(3, WireType.LengthDelimited).bytes(Buffer.from('payload'));
    });
    const message = aggregatedRecord(['key'], [record], (w) => {
      w.tag(2, WireType.LengthDelimited).string('340282366920938463463374607431768211455');
      w.tag(1, WireType.Varint).uint32(3);
      w.tag(12, WireType.LengthDelimited).bytes(Buffer.from('unknown'));
    });
    // Act
    const users = readKplAggregate(aggregateOf(message));
    // Assess
    expect(texts(users)).toEqual(['key=payload']);
  });

  it('reads an aggregate with no user records as none', () => {
    // Act and assess
    expect(readKplAggregate(aggregateOf(new Uint8Array(0)))).toEqual([]);
    expect(isKplAggregate(aggregateOf(new Uint8Array(0)))).toBe(true);
    expect(isKplAggregate(Buffer.from([0xf3, 0x89, 0x9a]))).toBe(false);
    expect(isKplAggregate(Buffer.from('{"a":1}'))).toBe(false);
  });

  it('gives the stream record a user record it cannot read in that record place, with its sub-sequence number', () => {
    // Prepare
    const message = aggregatedRecord(
      ['a'],
      [plainRecord(0, '{"n":1}'), plainRecord(5, '{"n":2}'), plainRecord(0, '{"n":3}')],
    );
    const record = streamRecord(7, 'outer', aggregateOf(message));
    // Act
    const users = deaggregate(record);
    const parsed = decodeStreamRecord(record);
    // Assess
    expect(users[1]).toMatchObject({
      error: { message: 'user record 1 names partition key 5, but the aggregate has 1' },
      record: {
        partitionKey: 'outer',
        sequenceNumber: sequenceNumber(7),
        subSequenceNumber: 1,
        data: record.data,
      },
    });
    expect(parsed.map((p) => [p.kind, p.record.subSequenceNumber])).toEqual([
      ['json', 0],
      ['undecodable', 1],
      ['json', 2],
    ]);
    expect(parsed[1]).toMatchObject({
      reason:
        'the KPL aggregate cannot be read: user record 1 names partition key 5, but the aggregate has 1',
    });
  });
});
