import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * kinesalite's sequence number and hash key arithmetic on the language's own big integers. kinesalite does it with
 * bignumber.js, whose conversions between bases 16 and 10 are written in JavaScript: in a profile of benchmark 3
 * they were two thirds of the emulator thread's time in PutRecords and GetRecords (each record's new sequence
 * number written out, each record read back parsed, each partition key's MD5 read as a number). The three
 * functions below answer exactly what kinesalite's answer, for the inputs kinesalite itself produces; anything
 * else (another version of the format, a malformed number) goes to kinesalite's own function, so that its answers
 * and its errors stay what they were. The actions call these through the `kinesalite/db` module object, which is
 * how `installSequenceArithmetic` replaces them.
 */

const require = createRequire(import.meta.url);

type Parse = (sequence: string) => Record<string, unknown>;
type Stringify = (fields: Record<string, unknown>) => string;
type HashKeyOf = (partitionKey: string) => unknown;

/** The module object the actions call through, and kinesalite's own functions, kept as they were. */
interface KinesaliteDb {
  parseSequence: Parse;
  stringifySequence: Stringify & { original?: Stringify };
  partitionKeyToHashKey: HashKeyOf & { original?: HashKeyOf };
}

const POW_2_124 = 1n << 124n;
/** kinesalite's POW_2_124_NEXT, 2^125 × 16. */
const POW_2_129 = 1n << 129n;
const POW_2_185 = 1n << 185n;
/** 2^185 × 1.5 */
const POW_2_185_NEXT = 3n << 184n;
const DECIMAL_DIGITS = /^\d+$/;
const HEX_DIGITS = /^[0-9a-f]+$/;

/**
 * A version 2 sequence number (the only kind kinesalite writes) taken apart as kinesalite's `parseSequence` does;
 * other versions and text that is not a plain decimal number go to `original`.
 */
export const parseSequence = (sequence: string, original: Parse): Record<string, unknown> => {
  if (typeof sequence !== 'string' || !DECIMAL_DIGITS.test(sequence)) return original(sequence);
  let number = BigInt(sequence);
  if (number < POW_2_124) number += POW_2_124;
  const hex = number.toString(16);
  if (number < POW_2_129 || !(number > POW_2_185 && number < POW_2_185_NEXT) || !hex.endsWith('2')) {
    return original(sequence);
  }
  const seqIxHex = hex.slice(11, 27);
  let shardIxHex = hex.slice(38, 46);
  if (Number.parseInt(seqIxHex[0]!, 16) > 7) throw new Error('Sequence index too high');
  if (Number.parseInt(shardIxHex[0]!, 16) > 7) shardIxHex = `-${shardIxHex}`;
  const shardCreateSecs = Number.parseInt(hex.slice(1, 10), 16);
  if (shardCreateSecs >= 16025175000) throw new Error(`Date too large: ${shardCreateSecs}`);
  return {
    shardCreateTime: shardCreateSecs * 1000,
    seqIx: BigInt(`0x${seqIxHex}`).toString(),
    byte1: hex.slice(27, 29),
    seqTime: Number.parseInt(hex.slice(29, 38), 16) * 1000,
    shardIx: Number.parseInt(shardIxHex, 16),
    version: 2,
  };
};

/** `seqIx` in hexadecimal as bignumber.js writes it, or undefined when it is not a whole number ≥ 0. */
const sequenceIndexHex = (seqIx: unknown): string | undefined => {
  if (typeof seqIx === 'number')
    return Number.isSafeInteger(seqIx) && seqIx >= 0 ? seqIx.toString(16) : undefined;
  if (typeof seqIx === 'string' && DECIMAL_DIGITS.test(seqIx)) return BigInt(seqIx).toString(16);
  return undefined;
};

/** kinesalite's own: a shard index as the 8 hexadecimal digits its sequence numbers and record keys hold. */
const { shardIxToHex } = require('kinesalite/db') as { shardIxToHex: (shardIx: unknown) => string };

/** A version 2 sequence number written out as kinesalite's `stringifySequence` writes it; others go to `original`. */
export const stringifySequence = (fields: Record<string, unknown>, original: Stringify): string => {
  if (fields.version != null && fields.version !== 2) return original(fields);
  const seqIx = sequenceIndexHex(fields.seqIx || 0);
  if (seqIx === undefined) return original(fields);
  const shardCreateTime = fields.shardCreateTime as number;
  const seqTime = (fields.seqTime as number) || shardCreateTime;
  const hex = [
    '2',
    `00000000${Math.floor(shardCreateTime / 1000).toString(16)}`.slice(-9),
    ((fields.shardIx as number) || 0).toString(16).slice(-1),
    `0000000000000000${seqIx}`.slice(-16),
    (fields.byte1 as string) || '00',
    `00000000${Math.floor(seqTime / 1000).toString(16)}`.slice(-9),
    shardIxToHex(fields.shardIx),
    '2',
  ].join('');
  // Anything that is not hexadecimal (a negative shard index, a time that is not a number) is kinesalite's to answer.
  if (!HEX_DIGITS.test(hex)) return original(fields);
  return BigInt(`0x${hex}`).toString();
};

/**
 * The partition key's MD5 as a number, in the bignumber.js type the actions compare with the shards' hash key
 * ranges: built from its decimal digits, which bignumber.js reads without converting bases.
 */
export const hashKeyOf = (partitionKey: string, BigNumber: new (value: string) => unknown): unknown =>
  new BigNumber(BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`).toString());

/**
 * Puts the functions above in place of kinesalite's (once; each keeps kinesalite's as `original`). `parseSequence`
 * is given the one that `wrap` makes of it, so that the memory of parsed numbers stays in front.
 */
export const installSequenceArithmetic = (wrap: (parse: Parse, original: Parse) => Parse): void => {
  const db = require('kinesalite/db') as KinesaliteDb;
  if (db.stringifySequence.original) return;
  const BigNumber = createRequire(require.resolve('kinesalite/db'))('bignumber.js') as new (
    value: string,
  ) => unknown;
  const { parseSequence: parse, stringifySequence: stringify, partitionKeyToHashKey: hashKey } = db;
  db.parseSequence = wrap((sequence) => parseSequence(sequence, parse), parse);
  db.stringifySequence = Object.assign(
    (fields: Record<string, unknown>) => stringifySequence(fields, stringify),
    {
      original: stringify,
    },
  );
  db.partitionKeyToHashKey = Object.assign((partitionKey: string) => hashKeyOf(partitionKey, BigNumber), {
    original: hashKey,
  });
};

/** A shard as kinesalite keeps it in its stream's metadata. */
export interface KinesaliteShard {
  ShardId: string;
  ParentShardId?: string;
  AdjacentParentShardId?: string;
  SequenceNumberRange: { StartingSequenceNumber: string; EndingSequenceNumber?: string };
}

/**
 * The StartingSequenceNumber that puts a child shard's numbers after all of its parents'. kinesalite dates a child
 * `now + 1 s` to the second and follows that with one hex digit of its shard index, so a child made in the second
 * its parent was made, whose index digit rolled past f (shard 15 split into 16 and 17), numbered below its parent.
 * A child that starts above every parent's EndingSequenceNumber (which is above all of that parent's records) keeps
 * kinesalite's number; one that does not is made a second after every parent's creation and last sequence time,
 * and a sequence number leads with its shard's creation second.
 */
export const childStartingSequence = (
  child: KinesaliteShard,
  parents: KinesaliteShard[],
  shardIx: number,
  parse: Parse,
  stringify: Stringify,
): string => {
  const starting = child.SequenceNumberRange.StartingSequenceNumber;
  const ordered = parents.every(({ SequenceNumberRange: { EndingSequenceNumber: ending } }) =>
    ending === undefined ? false : BigInt(starting) > BigInt(ending),
  );
  if (ordered) return starting;
  const after = Math.max(
    parse(starting).shardCreateTime as number,
    ...parents.flatMap(({ SequenceNumberRange: range }) => [
      (parse(range.StartingSequenceNumber).shardCreateTime as number) + 1000,
      range.EndingSequenceNumber ? (parse(range.EndingSequenceNumber).seqTime as number) + 1000 : 0,
    ]),
  );
  return stringify({ shardCreateTime: after, shardIx });
};

/** kinesalite's SplitShard and MergeShards, and the parts of its store they use. */
interface ReshardStream {
  StreamStatus?: string;
  Shards?: KinesaliteShard[];
}
interface ReshardStore {
  metaDb: { put(key: string, stream: ReshardStream, cb: (error?: unknown) => void): void };
}
type ReshardAction = ((store: ReshardStore, data: Record<string, unknown>, cb: unknown) => void) & {
  ordersChildren?: true;
};

/**
 * SplitShard and MergeShards number their children with `childStartingSequence`. Both actions store the stream
 * twice: UPDATING at once, then, `updateStreamMs` later, ACTIVE with the new shards last (two for a split, one for
 * a merge). They are given a store whose metaDb mends those children in the second write, before any record can
 * reach them. kinesalite takes its actions from `require('./actions/<name>')` when it loads, so this goes into the
 * module cache before that.
 */
export const installChildShardOrdering = (): void => {
  const db = require('kinesalite/db') as KinesaliteDb & {
    resolveShardId(shardId: string): { shardIx: number };
  };
  for (const [name, children] of [
    ['splitShard', 2],
    ['mergeShards', 1],
  ] as const) {
    const path = require.resolve(`kinesalite/actions/${name}.js`);
    const original = require(path) as ReshardAction;
    if (original.ordersChildren) continue;
    const action: ReshardAction = (store, data, cb) => {
      const put = (key: string, stream: ReshardStream, done: (error?: unknown) => void) => {
        if (stream.StreamStatus === 'ACTIVE' && stream.Shards) {
          const byId = new Map(stream.Shards.map((shard) => [shard.ShardId, shard]));
          for (const child of stream.Shards.slice(-children)) {
            const parents = [child.ParentShardId, child.AdjacentParentShardId].flatMap((id) =>
              id && byId.has(id) ? [byId.get(id)!] : [],
            );
            child.SequenceNumberRange.StartingSequenceNumber = childStartingSequence(
              child,
              parents,
              db.resolveShardId(child.ShardId).shardIx,
              db.parseSequence,
              db.stringifySequence,
            );
          }
        }
        store.metaDb.put(key, stream, done);
      };
      // Proxies, so that everything but the metaDb's put reaches kinesalite's own objects, reads and writes alike.
      const metaDb = new Proxy(store.metaDb, {
        get: (target, property) => (property === 'put' ? put : Reflect.get(target, property)),
      });
      const mended = new Proxy(store, {
        get: (target, property) => (property === 'metaDb' ? metaDb : Reflect.get(target, property)),
      });
      original(mended, data, cb);
    };
    require.cache[path]!.exports = Object.assign(action, { ordersChildren: true as const });
  }
};
