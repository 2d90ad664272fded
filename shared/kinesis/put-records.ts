import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';

/**
 * Writes records with PutRecords, within Kinesis's request limits, retrying only the entries that failed and
 * keeping each partition key's records in order.
 *
 * PutRecords does not guarantee order across the entries of one request, and a retried entry would land after
 * any later entry of its key that succeeded. So each request carries at most one record per partition key
 * (a "wave"): a key's next record is sent only once the previous one is written. Records of different keys
 * share requests, so a batch of distinct keys is one wave. Hand-written because neither the SDK nor Powertools
 * offers a per-key ordered PutRecords writer.
 */

/** Kinesis PutRecords limits (aws-behaviour.md §5). */
export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export interface PutEntry {
  partitionKey: string;
  data: Uint8Array;
}

export type EntryResult =
  | { status: 'written'; shardId: string; sequenceNumber: string; attempts: number }
  | { status: 'failed'; errorCode: string; errorMessage: string; attempts: number }
  | { status: 'not_attempted'; reason: string; attempts: 0 };

export interface WriteOptions {
  streamName: string;
  /** Epoch milliseconds after which no new request is started. */
  deadline: number;
  /** Time one PutRecords call is expected to need; no call starts closer than this to the deadline. */
  callAllowanceMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  maxRecordsPerRequest?: number;
  maxRequestBytes?: number;
  /** Requests of one wave sent at the same time. */
  concurrency?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called with the number of entries about to be retried. */
  onRetry?: (entries: number) => void;
}

export interface WriteOutcome {
  results: EntryResult[];
  /** Suggested wait before a client resends, in seconds, when something was left unwritten. */
  retryAfterSeconds: number;
}

const RETRYABLE_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'InternalFailure',
  'ServiceUnavailable',
  'KMSThrottlingException',
  // The call did not finish: the network, the SDK's request timeout, or the deadline below. Whether its records
  // were written is unknown; sending them again is safe, since the sink keeps one item per event identity.
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);

/**
 * Socket errors that a later attempt may not meet (the SDK's own retries have been used up by then): those the SDK's
 * retry strategy takes as transient (its NODEJS_TIMEOUT_ERROR_CODES and NODEJS_NETWORK_ERROR_CODES).
 */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface SdkError {
  name: string;
  message: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Whether a whole-request error may go away on its own, so that the entries are worth retrying. */
export const isRetryableError = (error: unknown): boolean => {
  const e = error as SdkError;
  if (RETRYABLE_ERRORS.has(e?.name)) return true;
  if (e?.$retryable) return true;
  if (e?.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status !== undefined && (status >= 500 || status === 429);
};

/** The bytes one entry counts against the request limit: its data plus its partition key. */
export const entrySize = (entry: PutEntry): number =>
  entry.data.byteLength + Buffer.byteLength(entry.partitionKey, 'utf8');

/** Splits items, in order, into requests within the count and byte limits. */
const chunkBy = <T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxRecords: number,
  maxBytes: number,
): T[][] => {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxRecords || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
};

/** Splits entries, in order, into requests within the count and byte limits. */
export const chunkEntries = <T extends PutEntry>(
  entries: readonly T[],
  maxRecords = MAX_RECORDS_PER_REQUEST,
  maxBytes = MAX_REQUEST_BYTES,
): T[][] => chunkBy(entries, entrySize, maxRecords, maxBytes);

/** Full-jitter exponential backoff: a random wait in [0, min(cap, base × 2^attempt)). */
export const backoffDelay = (attempt: number, baseMs: number, capMs: number, random: () => number): number =>
  Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const mapLimit = async <T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    // Once one call has failed, the caller answers with that error: the others send nothing more after it.
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
};

interface EntryError {
  errorCode: string;
  errorMessage: string;
}

export const putRecordsInOrder = async (
  client: KinesisClient,
  entries: readonly PutEntry[],
  options: WriteOptions,
): Promise<WriteOutcome> => {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const callAllowanceMs = options.callAllowanceMs ?? 1_000;
  const baseMs = options.backoffBaseMs ?? 50;
  const capMs = options.backoffCapMs ?? 2_000;
  const concurrency = options.concurrency ?? 4;
  const maxRecords = options.maxRecordsPerRequest ?? MAX_RECORDS_PER_REQUEST;
  const maxBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;

  // Entries are referred to by their index; per-entry state lives in arrays rather than in objects per entry.
  const count = entries.length;
  const results = new Array<EntryResult | undefined>(count);
  const attempts = new Uint32Array(count);
  const lastError = new Array<EntryError | undefined>(count);
  const failedNow = new Uint8Array(count);
  // Each key's records as a chain, oldest first: `following[i]` is the next record of i's key, or -1.
  const following = new Int32Array(count).fill(-1);
  // Each entry's bytes against the request limit, measured once however many waves it takes part in.
  const sizes = new Uint32Array(count);
  // The wave: the head of each key's chain, keys in the order they first appear.
  let heads: number[] = [];
  const tails = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const key = entries[index]!.partitionKey;
    const tail = tails.get(key);
    if (tail === undefined) heads.push(index);
    else following[tail] = index;
    tails.set(key, index);
    sizes[index] = entrySize(entries[index]!);
  }
  const sizeOf = (index: number) => sizes[index]!;

  const send = async (chunk: number[]): Promise<void> => {
    const request = new Array<PutRecordsRequestEntry>(chunk.length);
    for (let i = 0; i < chunk.length; i += 1) {
      const index = chunk[i]!;
      attempts[index]! += 1;
      request[i] = { PartitionKey: entries[index]!.partitionKey, Data: entries[index]!.data };
    }
    try {
      // The call, the SDK's own retries included, ends at the deadline, so that the caller can still answer.
      const response = await client.send(
        new PutRecordsCommand({ StreamName: options.streamName, Records: request }),
        { abortSignal: AbortSignal.timeout(Math.max(1, options.deadline - now())) },
      );
      for (let i = 0; i < chunk.length; i += 1) {
        const index = chunk[i]!;
        const result = response.Records?.[i];
        if (result?.SequenceNumber && result.ShardId && !result.ErrorCode) {
          results[index] = {
            status: 'written',
            shardId: result.ShardId,
            sequenceNumber: result.SequenceNumber,
            attempts: attempts[index]!,
          };
        } else {
          failedNow[index] = 1;
          lastError[index] = {
            errorCode: result?.ErrorCode ?? 'MissingResult',
            errorMessage: result?.ErrorMessage ?? 'PutRecords returned no result for this entry',
          };
        }
      }
    } catch (error) {
      if (!isRetryableError(error)) throw error;
      const entryError = { errorCode: (error as SdkError).name, errorMessage: (error as SdkError).message };
      for (const index of chunk) {
        failedNow[index] = 1;
        lastError[index] = entryError;
      }
    }
  };

  let failedWaves = 0;
  let lastDelay = 0;
  while (heads.length > 0) {
    if (now() + callAllowanceMs > options.deadline) break;
    await mapLimit(chunkBy(heads, sizeOf, maxRecords, maxBytes), concurrency, send);

    // A key whose head failed keeps it; any other key moves on to its next record, if it has one.
    const nextHeads: number[] = [];
    let failed = 0;
    for (const head of heads) {
      if (failedNow[head]) {
        failedNow[head] = 0;
        failed += 1;
        nextHeads.push(head);
      } else if (following[head]! !== -1) {
        nextHeads.push(following[head]!);
      }
    }
    heads = nextHeads;
    if (failed === 0) {
      failedWaves = 0;
      continue;
    }
    lastDelay = backoffDelay(failedWaves, baseMs, capMs, random);
    failedWaves += 1;
    if (now() + lastDelay + callAllowanceMs > options.deadline) break;
    options.onRetry?.(failed);
    await sleep(lastDelay);
  }

  // Whatever is left: the head of each chain failed (or was never tried), and its successors wait behind it.
  for (const head of heads) {
    const error = lastError[head];
    results[head] = error
      ? { status: 'failed', ...error, attempts: attempts[head]! }
      : {
          status: 'not_attempted',
          reason: 'the time budget ran out before this record could be sent',
          attempts: 0,
        };
    for (let index = following[head]!; index !== -1; index = following[index]!) {
      results[index] = {
        status: 'not_attempted',
        reason: 'an earlier record with the same partition key was not written',
        attempts: 0,
      };
    }
  }
  return {
    results: results as EntryResult[],
    retryAfterSeconds: Math.max(1, Math.ceil(Math.max(lastDelay, capMs / 2) / 1000)),
  };
};
