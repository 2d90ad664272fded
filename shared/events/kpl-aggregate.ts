import { createHash } from 'node:crypto';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * The KPL aggregation format (awslabs/amazon-kinesis-producer, aggregation-format.md): four magic bytes, a
 * protobuf `AggregatedRecord`, and the MD5 of that message's bytes.
 *
 *     message AggregatedRecord {
 *       repeated string partition_key_table = 1;
 *       repeated string explicit_hash_key_table = 2;
 *       repeated Record records = 3;
 *     }
 *     message Record {
 *       required uint64 partition_key_index = 1;
 *       optional uint64 explicit_hash_key_index = 2;
 *       required bytes data = 3;
 *       repeated Tag tags = 4;
 *     }
 *
 * Read here rather than with aws-kinesis-agg's deaggregation, which loads protobufjs whole (its reflection and
 * its .proto parser): about 75 KiB of every bundle that reads the stream and about 20 ms to load, for three
 * messages, and pinned to a protobufjs release that security scanners flag (CVE-2023-36665). The wire format is
 * read by @bufbuild/protobuf's BinaryReader (7 KiB); what is written here is the field loop that a protobuf code
 * generator emits for the messages above, and the checks. `test/unit/kpl-aggregate.test.ts` compares the result
 * with aws-kinesis-agg's on aggregates that aws-kinesis-agg built, and on thousands of altered ones.
 */
export const KPL_MAGIC: readonly number[] = [0xf3, 0x89, 0x9a, 0xc2];

const CHECKSUM_BYTES = 16;

/** One user record out of an aggregate. `data` is a view onto the aggregate's bytes. */
export interface KplUserRecord {
  partitionKey: string;
  data: Uint8Array;
}

/** Why a whole aggregate cannot be read: its size, its checksum or its protobuf message. */
export class KplAggregateError extends Error {
  override name = 'KplAggregateError';
}

/** Whether the bytes start with the KPL magic number (and so claim to be an aggregate). */
export const isKplAggregate = (data: Uint8Array): boolean =>
  data.length >= KPL_MAGIC.length && KPL_MAGIC.every((byte, index) => data[index] === byte);

interface RecordFields {
  partitionKeyIndex?: bigint;
  data?: Uint8Array;
}

/** Reads one `Record`; `end` is where its bytes end. */
const readRecord = (reader: BinaryReader, end: number): RecordFields => {
  const fields: RecordFields = {};
  while (reader.pos < end) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.Varint) fields.partitionKeyIndex = BigInt(reader.uint64());
    else if (fieldNo === 3 && wireType === WireType.LengthDelimited) fields.data = reader.bytes();
    // The explicit hash key (2) decides the shard, which is already decided; tags (4) are for the producer.
    // A field this reader does not know, or a known one in another wire type, is skipped, as protobuf does.
    else reader.skip(wireType, fieldNo);
  }
  if (reader.pos !== end) throw new RangeError('a field runs past the end of its record');
  return fields;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A partition key that is not UTF-8 is refused, not patched with U+FFFD: two keys must not become one. */
const readPartitionKey = (reader: BinaryReader, index: number): string => {
  const bytes = reader.bytes();
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error(`partition key ${index} is not valid UTF-8`);
  }
};

const readMessage = (message: Uint8Array): { partitionKeys: string[]; records: RecordFields[] } => {
  const reader = new BinaryReader(message);
  const partitionKeys: string[] = [];
  const records: RecordFields[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited)
      partitionKeys.push(readPartitionKey(reader, partitionKeys.length));
    else if (fieldNo === 3 && wireType === WireType.LengthDelimited) {
      const length = reader.uint32();
      const end = reader.pos + length;
      if (end > reader.len) throw new RangeError('premature EOF');
      records.push(readRecord(reader, end));
    } else reader.skip(wireType, fieldNo);
  }
  return { partitionKeys, records };
};

/**
 * Splits an aggregate into its user records, in their order: a user record's index is its sub-sequence
 * number. A user record that cannot be read (no data, or a partition key index outside the table) comes back
 * as an Error in its place, and the others still come back. An aggregate that cannot be read at all (too
 * short, a checksum that does not match, a malformed message) throws a KplAggregateError.
 */
export const readKplAggregate = (data: Uint8Array): Array<KplUserRecord | Error> => {
  const least = KPL_MAGIC.length + CHECKSUM_BYTES;
  if (data.length < least) {
    throw new KplAggregateError(
      `it is ${data.length} bytes, fewer than its magic number and checksum take (${least})`,
    );
  }
  const message = data.subarray(KPL_MAGIC.length, data.length - CHECKSUM_BYTES);
  const checksum = data.subarray(data.length - CHECKSUM_BYTES);
  if (!createHash('md5').update(message).digest().equals(checksum)) {
    throw new KplAggregateError('its MD5 checksum does not match its message');
  }
  let read: ReturnType<typeof readMessage>;
  try {
    read = readMessage(message);
  } catch (error) {
    throw new KplAggregateError(`its protobuf message is malformed: ${(error as Error).message}`);
  }
  const { partitionKeys, records } = read;
  return records.map((record, index): KplUserRecord | Error => {
    if (record.partitionKeyIndex === undefined)
      return new Error(`user record ${index} has no partition key index`);
    if (record.partitionKeyIndex >= BigInt(partitionKeys.length)) {
      return new Error(
        `user record ${index} names partition key ${record.partitionKeyIndex}, but the aggregate has ${partitionKeys.length}`,
      );
    }
    if (record.data === undefined) return new Error(`user record ${index} has no data`);
    return { partitionKey: partitionKeys[Number(record.partitionKeyIndex)] as string, data: record.data };
  });
};
