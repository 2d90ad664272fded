import type { KinesisClient, PutRecordsRequestEntry, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';

/**
 * PutRecords partial failures, which kinesalite never produces. The failing entries are taken out of the
 * request before it reaches the stream (so they are really not written) and their error results are put back
 * in place, exactly as Kinesis answers: HTTP 200, FailedRecordCount > 0, and ErrorCode/ErrorMessage without
 * SequenceNumber or ShardId for each failed entry.
 */

export type FaultDecider = (
  entry: PutRecordsRequestEntry,
  position: number,
) => PutRecordsResultEntry | undefined;

export const throughputExceeded = (
  shardHint = 'shardId-000000000000',
  streamName = 'local',
): PutRecordsResultEntry => ({
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: `Rate exceeded for shard ${shardHint} in stream ${streamName} under account 000000000000.`,
});

export const internalFailure = (): PutRecordsResultEntry => ({
  ErrorCode: 'InternalFailure',
  ErrorMessage: 'Internal service failure.',
});

/** Splits a request into the entries to forward and a function that merges the forwarded results back. */
export const applyFaults = <Entry>(
  entries: readonly Entry[],
  decide: (entry: Entry, position: number) => PutRecordsResultEntry | undefined,
) => {
  const injected = entries.map((entry, position) => decide(entry, position));
  const forward = entries.filter((_, position) => injected[position] === undefined);
  const merge = (forwarded: readonly PutRecordsResultEntry[]) => {
    let next = 0;
    const records = injected.map((fault) => fault ?? forwarded[next++]!);
    return { FailedRecordCount: records.filter((r) => r.ErrorCode).length, Records: records };
  };
  return { forward, merge };
};

/** A PutRecords entry as it travels in a JSON request body, its Data in base64. */
export interface WirePutRecordsEntry {
  PartitionKey: string;
  Data: string;
  ExplicitHashKey?: string | null;
}

/** A PutRecords or PutRecord request that the emulator accepts as well formed. */
export interface AcceptedPutRequest {
  streamName: string;
  /** The request body, parsed. */
  input: Record<string, unknown>;
  /** PutRecords' Records, or the one record of a PutRecord. */
  entries: WirePutRecordsEntry[];
  /** What each entry counts against its shard's write limit: partition key and data, in bytes. */
  sizes: number[];
}

// The limits Kinesis checks before it looks at the stream, as the emulator (kinesalite) checks them.
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const EXPLICIT_HASH_KEY = /^(0|[1-9]\d{0,38})$/;
const SEQUENCE_NUMBER = /^(0|[1-9]\d{0,128})$/;
const HASH_KEY_SPACE = 2n ** 128n;
export const MAX_PUT_RECORDS_ENTRIES = 500;
export const MAX_PARTITION_KEY_LENGTH = 256;
export const MAX_RECORD_DATA_BYTES = 1024 * 1024;
/** kinesalite answers a larger body with 413 before reading it. */
export const MAX_EMULATOR_BODY_BYTES = 7 * 1024 * 1024;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The bytes an entry counts against its shard, or undefined when Kinesis would refuse it. */
const entrySize = (entry: unknown): number | undefined => {
  if (!isObject(entry)) return undefined;
  const { PartitionKey: key, Data: data, ExplicitHashKey: hashKey } = entry;
  if (typeof key !== 'string' || key.length < 1 || key.length > MAX_PARTITION_KEY_LENGTH) return undefined;
  if (typeof data !== 'string') return undefined;
  const bytes = Buffer.from(data, 'base64');
  // Node's decoder skips what is not base64; only canonical base64 encodes back to the text it came from.
  if (bytes.byteLength > MAX_RECORD_DATA_BYTES || bytes.toString('base64') !== data) return undefined;
  if (hashKey !== undefined && hashKey !== null) {
    if (typeof hashKey !== 'string' || !EXPLICIT_HASH_KEY.test(hashKey) || BigInt(hashKey) >= HASH_KEY_SPACE)
      return undefined;
  }
  return Buffer.byteLength(key, 'utf8') + bytes.byteLength;
};

/**
 * The stream and entries of a PutRecords or PutRecord JSON body that Kinesis would take, or undefined for one it
 * refuses before writing (not JSON, a field missing or of the wrong type or length, no entries or over 500).
 * Checked by hand: no installed library validates a Kinesis request body against the service model.
 */
export const acceptedPutRequest = (
  operation: 'PutRecords' | 'PutRecord',
  body: Buffer,
): AcceptedPutRequest | undefined => {
  if (body.byteLength > MAX_EMULATOR_BODY_BYTES) return undefined;
  let input: unknown;
  try {
    input = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(input) || typeof input.StreamName !== 'string' || !STREAM_NAME.test(input.StreamName))
    return undefined;
  const order = input.SequenceNumberForOrdering;
  if (
    operation === 'PutRecord' &&
    order !== undefined &&
    order !== null &&
    (typeof order !== 'string' || !SEQUENCE_NUMBER.test(order))
  )
    return undefined;
  const entries: unknown = operation === 'PutRecord' ? [input] : input.Records;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_PUT_RECORDS_ENTRIES)
    return undefined;
  const sizes: number[] = [];
  for (const entry of entries) {
    const size = entrySize(entry);
    if (size === undefined) return undefined;
    sizes.push(size);
  }
  return { streamName: input.StreamName, input, entries: entries as WirePutRecordsEntry[], sizes };
};

/** Adds fault injection to one SDK client's PutRecords calls (for tests of code that takes a client). */
export const injectPutRecordsFaults = (client: KinesisClient, decide: FaultDecider): void => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const input = args.input as { Records: PutRecordsRequestEntry[] };
      const { forward, merge } = applyFaults(input.Records, decide);
      if (forward.length === 0) {
        return { output: { ...merge([]), $metadata: {} }, response: {} } as Awaited<ReturnType<typeof next>>;
      }
      const result = await next({ ...args, input: { ...input, Records: forward } });
      const output = result.output as unknown as { Records: PutRecordsResultEntry[] };
      return { ...result, output: { ...output, ...merge(output.Records) } } as typeof result;
    },
    { step: 'initialize', name: 'putRecordsFaultInjection' },
  );
};
