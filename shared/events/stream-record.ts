import { createHash } from 'node:crypto';
import type { KinesisStreamEvent } from 'aws-lambda';
import { canonicalJson, parseJson } from './canonical-json.ts';
import { type CloudEvent, identityOf, validateCloudEvent } from './cloudevent.ts';

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
  | { kind: 'invalid'; reason: string; record: UserRecord };

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

interface AggUserRecord {
  partitionKey: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  data: string;
}

/** The KPL aggregation format's magic number, the first four bytes of every aggregate. */
const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2] as const;

const isAggregate = (data: Uint8Array): boolean =>
  data.length >= KPL_MAGIC.length && KPL_MAGIC.every((byte, index) => data[index] === byte);

let aggregationModule: Promise<typeof import('aws-kinesis-agg/lib/kpl-deagg.js')> | undefined;

/**
 * aws-kinesis-agg's deaggregation is imported the first time an aggregate arrives: loading it (protobufjs) takes
 * ~50 ms, and most streams carry no aggregates, so a cold start should not pay for it. Only its deaggregation
 * module: the package root brings the aggregation half too (shared/types/aws-kinesis-agg.d.ts).
 */
const loadAggregation = async () => {
  aggregationModule ??= import('aws-kinesis-agg/lib/kpl-deagg.js');
  const module = await aggregationModule;
  // A CommonJS package: its exports are the default export when imported from an ES module.
  return (module as { default?: typeof module }).default ?? module;
};

/**
 * Splits a KPL-aggregated record into its user records (a plain record comes back as itself). A corrupt
 * aggregate (bad protobuf, bad MD5) comes back as one undecodable record holding the outer bytes.
 */
export const deaggregate = async (
  record: StreamRecord,
): Promise<Array<UserRecord | { error: Error; record: UserRecord }>> => {
  const outer: UserRecord = {
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    approximateArrivalTimestamp: record.approximateArrivalTimestamp,
    data: Buffer.from(record.data),
  };
  // What the library does with a record that is not an aggregate, without loading it or base64 round trips.
  if (!isAggregate(outer.data)) return [outer];
  const aggregation = await loadAggregation();
  const results: Array<UserRecord | { error: Error; record: UserRecord }> = [];
  let finished = false;
  // The library's callbacks run synchronously; `finished` proves it.
  aggregation.deaggregate(
    {
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: outer.data.toString('base64'),
    } as never,
    true,
    (error: Error | null, user?: AggUserRecord) => {
      if (error || !user) {
        results.push({ error: error ?? new Error('no user record'), record: outer });
        return;
      }
      results.push({
        shardId: record.shardId,
        sequenceNumber: record.sequenceNumber,
        ...(user.subSequenceNumber === undefined ? {} : { subSequenceNumber: user.subSequenceNumber }),
        partitionKey: user.partitionKey,
        approximateArrivalTimestamp: record.approximateArrivalTimestamp,
        data: Buffer.from(user.data, 'base64'),
      });
    },
    (error?: Error, failed?: AggUserRecord) => {
      if (!error) {
        finished = true;
        return;
      }
      const subSequenceNumber = failed?.subSequenceNumber;
      results.push({
        error,
        record: subSequenceNumber === undefined ? outer : { ...outer, subSequenceNumber },
      });
      // A corrupt aggregate ends here; a failure of one user record is followed by the final callback.
      if (failed === undefined) finished = true;
    },
  );
  if (!finished) throw new Error('aws-kinesis-agg did not finish synchronously');
  return results;
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
    const errors = validateCloudEvent(value, 0);
    if (errors.length > 0) {
      const reason = errors.map((e) => (e.field ? `${e.field} ${e.message}` : e.message)).join('; ');
      return { kind: 'invalid', reason: `not a valid CloudEvent: ${reason}`, record };
    }
    const event = value as CloudEvent;
    return { kind: 'cloudevent', identity: identityOf(event), event, record };
  }
  return { kind: 'json', identity: jsonIdentity(value), value, record };
};

/** De-aggregates and parses one stream record, keeping the user records in their order. */
export const decodeStreamRecord = async (record: StreamRecord): Promise<ParsedRecord[]> =>
  (await deaggregate(record)).map((user) =>
    'error' in user
      ? {
          kind: 'undecodable' as const,
          reason: `the KPL aggregate cannot be read: ${user.error.message}`,
          record: user.record,
        }
      : parseUserRecord(user),
  );
