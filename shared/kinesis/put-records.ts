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
]);

interface SdkError {
  name: string;
  message: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Whether a whole-request error may go away on its own, so that the entries are worth retrying. */
export const isRetryableError = (error: unknown): boolean => {
  const e = error as SdkError;
  if (RETRYABLE_ERRORS.has(e?.name)) return true;
  if (e?.$retryable) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status !== undefined && (status >= 500 || status === 429);
};

/** The bytes one entry counts against the request limit: its data plus its partition key. */
export const entrySize = (entry: PutEntry): number =>
  entry.data.byteLength + Buffer.byteLength(entry.partitionKey, 'utf8');

/** Splits entries, in order, into requests within the count and byte limits. */
export const chunkEntries = <T extends PutEntry>(
  entries: readonly T[],
  maxRecords = MAX_RECORDS_PER_REQUEST,
  maxBytes = MAX_REQUEST_BYTES,
): T[][] => {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    if (current.length > 0 && (current.length >= maxRecords || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
};

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
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
};

interface Indexed extends PutEntry {
  index: number;
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

  const results: Array<EntryResult | undefined> = new Array(entries.length);
  const attempts = new Array<number>(entries.length).fill(0);
  const lastError = new Map<number, { errorCode: string; errorMessage: string }>();
  // Each key's records, oldest first; the head of each queue is the next one to write.
  const queues = new Map<string, Indexed[]>();
  entries.forEach((entry, index) => {
    const queue = queues.get(entry.partitionKey) ?? [];
    queue.push({ ...entry, index });
    queues.set(entry.partitionKey, queue);
  });

  let failedWaves = 0;
  let lastDelay = 0;
  while (queues.size > 0) {
    if (now() + callAllowanceMs > options.deadline) break;
    const wave = [...queues.values()].map((queue) => queue[0]!);
    const failed = new Set<number>();
    await mapLimit(
      chunkEntries(wave, options.maxRecordsPerRequest, options.maxRequestBytes),
      concurrency,
      async (chunk) => {
        for (const entry of chunk) attempts[entry.index]! += 1;
        const request: PutRecordsRequestEntry[] = chunk.map((e) => ({
          PartitionKey: e.partitionKey,
          Data: e.data,
        }));
        try {
          const response = await client.send(
            new PutRecordsCommand({ StreamName: options.streamName, Records: request }),
          );
          chunk.forEach((entry, i) => {
            const result = response.Records?.[i];
            if (result?.SequenceNumber && result.ShardId && !result.ErrorCode) {
              results[entry.index] = {
                status: 'written',
                shardId: result.ShardId,
                sequenceNumber: result.SequenceNumber,
                attempts: attempts[entry.index]!,
              };
            } else {
              failed.add(entry.index);
              lastError.set(entry.index, {
                errorCode: result?.ErrorCode ?? 'MissingResult',
                errorMessage: result?.ErrorMessage ?? 'PutRecords returned no result for this entry',
              });
            }
          });
        } catch (error) {
          if (!isRetryableError(error)) throw error;
          for (const entry of chunk) {
            failed.add(entry.index);
            lastError.set(entry.index, {
              errorCode: (error as SdkError).name,
              errorMessage: (error as SdkError).message,
            });
          }
        }
      },
    );

    for (const [key, queue] of queues) {
      if (!failed.has(queue[0]!.index)) queue.shift();
      if (queue.length === 0) queues.delete(key);
    }
    if (failed.size === 0) {
      failedWaves = 0;
      continue;
    }
    lastDelay = backoffDelay(failedWaves, baseMs, capMs, random);
    failedWaves += 1;
    if (now() + lastDelay + callAllowanceMs > options.deadline) break;
    options.onRetry?.(failed.size);
    await sleep(lastDelay);
  }

  // Whatever is left: the head of each queue failed (or was never tried), and its successors wait behind it.
  for (const queue of queues.values()) {
    queue.forEach((entry, position) => {
      const error = lastError.get(entry.index);
      if (position === 0 && error) {
        results[entry.index] = { status: 'failed', ...error, attempts: attempts[entry.index]! };
      } else {
        results[entry.index] = {
          status: 'not_attempted',
          reason:
            position === 0
              ? 'the time budget ran out before this record could be sent'
              : 'an earlier record with the same partition key was not written',
          attempts: 0,
        };
      }
    });
  }
  return {
    results: results as EntryResult[],
    retryAfterSeconds: Math.max(1, Math.ceil(Math.max(lastDelay, capMs / 2) / 1000)),
  };
};
