import { createHash } from 'node:crypto';
import type { KinesisStreamEvent } from 'aws-lambda';
import { checkStorable } from '#shared/sink/item-size.ts';
import { canonicalJson, parseJson } from './canonical-json.ts';
import { type CloudEvent, identityOf, listedProblems, validateCloudEvent } from './cloudevent.ts';
import { isKplAggregate, readKplAggregate } from './kpl-aggregate.ts';

/**
 * A record as read from a shard, whoever read it: the Lambda event source mapping (adapted by
 * `streamRecordsFromKinesisEvent`) or GetRecords (DLQ replay, reprocessing). `data` is the raw bytes.
 */
export interface StreamRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  approximateArrivalTimestamp: Date;
}

/**
 * One user record: the stream record itself, or one record out of a KPL aggregate. It keeps the OUTER sequence
 * number, because that is what the event source mapping checkpoints and what a batch item failure names;
 * `subSequenceNumber` is its place inside the aggregate.
 */
export interface UserRecord {
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  partitionKey: string;
  approximateArrivalTimestamp: Date;
  data: Buffer;
}

/** A user record read as an event, or the reason why it never can be. */
export type ParsedRecord =
  | { kind: 'cloudevent'; identity: string; event: CloudEvent; record: UserRecord }
  | { kind: 'json'; identity: string; value: unknown; record: UserRecord }
  | { kind: 'undecodable'; reason: string; record: UserRecord }
  | { kind: 'invalid'; reason: string; record: UserRecord }
  | { kind: 'unstorable'; reason: string; record: UserRecord };

/** Adapts the Lambda Kinesis event: `data` is base64 and the arrival time is epoch seconds. */
export const streamRecordsFromKinesisEvent = (event: KinesisStreamEvent): StreamRecord[] =>
  event.Records.map((record) => {
    const separator = record.eventID.indexOf(':');
    return {
      // eventID is `<shardId>:<sequenceNumber>`.
      shardId: separator > 0 ? record.eventID.slice(0, separator) : record.eventID,
      sequenceNumber: record.kinesis.sequenceNumber,
      partitionKey: record.kinesis.partitionKey,
      data: Buffer.from(record.kinesis.data, 'base64'),
      approximateArrivalTimestamp: new Date(Math.round(record.kinesis.approximateArrivalTimestamp * 1000)),
    };
  });

/** A user record out of a stream record, or the error that stopped it being read. */
export type DeaggregatedRecord = UserRecord | { error: Error; record: UserRecord };

/**
 * Splits a KPL-aggregated record into its user records (a plain record comes back as itself). A corrupt
 * aggregate (too short, bad MD5, bad protobuf) comes back as one error holding the outer record; a user record
 * that cannot be read comes back as an error holding the outer record with that user record's sub-sequence
 * number, in its place among the others.
 */
export const deaggregate = (record: StreamRecord): DeaggregatedRecord[] => {
  const outer: UserRecord = {
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    approximateArrivalTimestamp: record.approximateArrivalTimestamp,
    data: Buffer.from(record.data),
  };
  if (!isKplAggregate(outer.data)) return [outer];
  let users: ReturnType<typeof readKplAggregate>;
  try {
    users = readKplAggregate(outer.data);
  } catch (error) {
    return [{ error: error as Error, record: outer }];
  }
  return users.map((user, subSequenceNumber) =>
    user instanceof Error
      ? { error: user, record: { ...outer, subSequenceNumber } }
      : {
          shardId: record.shardId,
          sequenceNumber: record.sequenceNumber,
          subSequenceNumber,
          partitionKey: user.partitionKey,
          approximateArrivalTimestamp: record.approximateArrivalTimestamp,
          data: Buffer.from(user.data.buffer, user.data.byteOffset, user.data.byteLength),
        },
  );
};

/** Strict UTF-8: a record that is not valid UTF-8 is undecodable, not silently patched with U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The identity of a plain JSON record: the SHA-256 of its canonical JSON, so the same payload maps alike. */
export const jsonIdentity = (value: unknown): string =>
  `json:sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;

/** Reads one user record as a CloudEvent, as plain JSON, or as neither. */
export const parseUserRecord = (record: UserRecord): ParsedRecord => {
  let text: string;
  try {
    text = utf8.decode(record.data);
  } catch {
    return { kind: 'undecodable', reason: 'the record is not valid UTF-8', record };
  }
  let value: unknown;
  try {
    value = parseJson(text);
  } catch {
    // Not the parser's message: V8 quotes the start of the input in it, and reasons end up in logs.
    return { kind: 'undecodable', reason: 'the record is not JSON', record };
  }
  // A record that claims to be a CloudEvent is held to the contract rather than stored as plain JSON.
  if (isObject(value) && 'specversion' in value) {
    // The key the event would be written under at the API is not checked: the record has its own key already.
    const errors = validateCloudEvent(value, 0, undefined, { recordPartitionKey: record.partitionKey });
    if (errors.length > 0) {
      // Listed as the API lists them: a record with 100,000 bad attributes would make a reason of megabytes.
      const listed = listedProblems(errors);
      const reason =
        listed.map((e) => (e.field ? `${e.field} ${e.message}` : e.message)).join('; ') +
        (listed.length < errors.length ? `; and ${errors.length - listed.length} more` : '');
      return { kind: 'invalid', reason: `not a valid CloudEvent: ${reason}`, record };
    }
    const event = value as CloudEvent;
    return { kind: 'cloudevent', identity: identityOf(event), event, record };
  }
  let identity: string;
  try {
    identity = jsonIdentity(value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // Nested so deep that the canonical form overflows the stack: far deeper than an item can be, which the sink's
    // check (it stops at the limit) names. A thrown error would fail the record at every retry and block its key.
    const { problem } = checkStorable(value, 'data');
    return { kind: 'unstorable', reason: problem ?? 'the record is nested too deeply to read', record };
  }
  return { kind: 'json', identity, value, record };
};

/** De-aggregates and parses one stream record, keeping the user records in their order. */
export const decodeStreamRecord = (record: StreamRecord): ParsedRecord[] =>
  decodeUserRecords(deaggregate(record));

/** The user records `deaggregate` gave, each read as an event or as the reason it never can be. */
export const decodeUserRecords = (users: readonly DeaggregatedRecord[]): ParsedRecord[] =>
  users.map((user) =>
    'error' in user
      ? {
          kind: 'undecodable' as const,
          reason: `the KPL aggregate cannot be read: ${user.error.message}`,
          record: user.record,
        }
      : parseUserRecord(user),
  );
