import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import type { PutRecordsRequestEntry, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { applyFaults, internalFailure } from './put-records-faults.ts';

/**
 * Fault injection for the local runtime, off by default, switchable while it runs (PUT /_local/faults on the AWS
 * endpoint). It sits in the AWS endpoint, so every client (the functions, the AWS CLI, boto3) sees the same
 * faults, answered in exactly the shape AWS answers them.
 */

export interface FaultSettings {
  /** Fraction (0–1) of PutRecords entries answered with InternalFailure. */
  putRecordsFailureRate: number;
  /** Enforce 1 MB/s and 1,000 records/s of writes per shard, answering ProvisionedThroughputExceededException. */
  shardWriteLimits: boolean;
  /** DynamoDB writes whose request body contains this text (or matches /regex/) fail. */
  dynamodbPattern?: string;
  dynamodbMode: 'throttle' | 'error';
  /** Function invocations holding a record whose payload contains this text (or matches /regex/) fail. */
  functionPattern?: string;
  /** Only this function (logical id) gets function faults; all when absent. */
  functionName?: string;
}

export const DEFAULT_FAULTS: FaultSettings = {
  putRecordsFailureRate: 0,
  shardWriteLimits: false,
  dynamodbMode: 'throttle',
};

/** `text` or `/regex/flags` → the string or the RegExp it stands for. */
export const parsePattern = (pattern: string): string | RegExp => {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  return regex ? new RegExp(regex[1]!, regex[2]!.replace('g', '')) : pattern;
};

/** `text` or `/regex/flags` → a predicate. */
export const patternMatcher = (pattern: string): ((text: string) => boolean) => {
  const parsed = parsePattern(pattern);
  return typeof parsed === 'string' ? (text) => text.includes(parsed) : (text) => parsed.test(text);
};

export const validateFaults = (input: Partial<FaultSettings>): FaultSettings => {
  const merged = { ...DEFAULT_FAULTS, ...input };
  const rate = Number(merged.putRecordsFailureRate);
  if (!(rate >= 0 && rate <= 1))
    throw new Error(`putRecordsFailureRate must be between 0 and 1, got ${merged.putRecordsFailureRate}`);
  if (merged.dynamodbMode !== 'throttle' && merged.dynamodbMode !== 'error') {
    throw new Error(`dynamodbMode must be throttle or error, got ${merged.dynamodbMode}`);
  }
  for (const key of ['dynamodbPattern', 'functionPattern'] as const) {
    const value = merged[key];
    if (value === '' || value === null) delete merged[key];
    else if (value !== undefined) patternMatcher(value);
  }
  return { ...merged, putRecordsFailureRate: rate, shardWriteLimits: Boolean(merged.shardWriteLimits) };
};

/** Per-shard write limits: a one-second sliding window of records and bytes. */
export const SHARD_RECORDS_PER_SECOND = 1_000;
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;

interface ShardRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

export class ShardWriteLimiter {
  private readonly windows = new Map<string, Array<{ at: number; bytes: number }>>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Takes capacity for one record; false when the shard has none left in the current second. */
  take(shardId: string, bytes: number): boolean {
    const now = this.now();
    const window = (this.windows.get(shardId) ?? []).filter((w) => now - w.at < 1_000);
    const used = window.reduce((sum, w) => sum + w.bytes, 0);
    if (window.length + 1 > SHARD_RECORDS_PER_SECOND || used + bytes > SHARD_BYTES_PER_SECOND) {
      this.windows.set(shardId, window);
      return false;
    }
    window.push({ at: now, bytes });
    this.windows.set(shardId, window);
    return true;
  }
}

export const hashKeyOf = (entry: { PartitionKey?: string; ExplicitHashKey?: string }): bigint =>
  entry.ExplicitHashKey !== undefined
    ? BigInt(entry.ExplicitHashKey)
    : BigInt(
        `0x${createHash('md5')
          .update(entry.PartitionKey ?? '', 'utf8')
          .digest('hex')}`,
      );

const entryBytes = (entry: { PartitionKey?: string; Data?: unknown }): number =>
  Buffer.byteLength(entry.PartitionKey ?? '', 'utf8') +
  (typeof entry.Data === 'string' ? Buffer.from(entry.Data, 'base64').byteLength : 0);

export interface FaultInjector {
  settings(): FaultSettings;
  update(input: Partial<FaultSettings>): FaultSettings;
  /** Gateway hook: answers the request itself when a fault applies. */
  intercept(
    service: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    upstream: string,
  ): Promise<boolean>;
  /** Counts of injected faults, for the live view. */
  counts: { putRecordsEntries: number; throttledEntries: number; dynamodb: number };
}

const forwardJson = (
  upstream: string,
  req: IncomingMessage,
  body: string,
): Promise<{ status: number; headers: Record<string, string>; text: string }> =>
  new Promise((resolve, reject) => {
    const out = request(
      new URL(req.url ?? '/', upstream),
      { method: req.method, headers: { ...req.headers, 'content-length': String(Buffer.byteLength(body)) } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () =>
          resolve({
            status: answer.statusCode ?? 500,
            headers: Object.fromEntries(Object.entries(answer.headers).map(([k, v]) => [k, String(v)])),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    out.on('error', reject);
    out.end(body);
  });

export const createFaultInjector = (
  initial: Partial<FaultSettings>,
  shardsOf: (streamName: string) => Promise<ShardRange[]>,
  random: () => number = Math.random,
): FaultInjector => {
  let current = validateFaults(initial);
  const limiter = new ShardWriteLimiter();
  const counts = { putRecordsEntries: 0, throttledEntries: 0, dynamodb: 0 };

  const shardFor = (ranges: ShardRange[], entry: PutRecordsRequestEntry & { Data?: unknown }) => {
    const hash = hashKeyOf(entry);
    return ranges.find((r) => r.start <= hash && hash <= r.end)?.shardId ?? 'shardId-000000000000';
  };

  const kinesis = async (
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    upstream: string,
  ): Promise<boolean> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const isJson = String(req.headers['content-type'] ?? '').includes('json');
    if (!isJson || (!target.endsWith('.PutRecords') && !target.endsWith('.PutRecord'))) return false;
    if (current.putRecordsFailureRate === 0 && !current.shardWriteLimits) return false;
    const input = JSON.parse(body.toString('utf8')) as {
      StreamName?: string;
      StreamARN?: string;
      Records?: PutRecordsRequestEntry[];
    } & PutRecordsRequestEntry;
    const streamName = input.StreamName ?? input.StreamARN?.split('/').pop() ?? '';
    const ranges = current.shardWriteLimits ? await shardsOf(streamName) : [];
    const decide = (entry: PutRecordsRequestEntry): PutRecordsResultEntry | undefined => {
      if (random() < current.putRecordsFailureRate) {
        counts.putRecordsEntries += 1;
        return internalFailure();
      }
      if (current.shardWriteLimits) {
        const shardId = shardFor(ranges, entry);
        if (
          !limiter.take(
            `${streamName}/${shardId}`,
            entryBytes(entry as { PartitionKey?: string; Data?: unknown }),
          )
        ) {
          counts.throttledEntries += 1;
          return {
            ErrorCode: 'ProvisionedThroughputExceededException',
            ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${streamName} under account 000000000000.`,
          };
        }
      }
      return undefined;
    };

    if (target.endsWith('.PutRecord')) {
      const fault = decide(input);
      if (!fault) return false;
      const type =
        fault.ErrorCode === 'InternalFailure' ? 'InternalFailure' : 'ProvisionedThroughputExceededException';
      res.writeHead(type === 'InternalFailure' ? 500 : 400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': type,
      });
      res.end(JSON.stringify({ __type: type, message: fault.ErrorMessage }));
      return true;
    }

    const { forward, merge } = applyFaults(input.Records ?? [], decide);
    if (forward.length === (input.Records ?? []).length) return false;
    let forwardedResults: PutRecordsResultEntry[] = [];
    if (forward.length > 0) {
      const answer = await forwardJson(upstream, req, JSON.stringify({ ...input, Records: forward }));
      if (answer.status !== 200) {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.text);
        return true;
      }
      forwardedResults = (JSON.parse(answer.text) as { Records: PutRecordsResultEntry[] }).Records;
    }
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(merge(forwardedResults)));
    return true;
  };

  const dynamodb = async (req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<boolean> => {
    if (!current.dynamodbPattern) return false;
    const target = String(req.headers['x-amz-target'] ?? '');
    if (!/\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/.test(target)) return false;
    if (!patternMatcher(current.dynamodbPattern)(body.toString('utf8'))) return false;
    counts.dynamodb += 1;
    const throttle = current.dynamodbMode === 'throttle';
    const type = throttle
      ? 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException'
      : 'com.amazonaws.dynamodb.v20120810#InternalServerError';
    res.writeHead(throttle ? 400 : 500, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-errortype': type.split('#')[1]!,
    });
    res.end(
      JSON.stringify({
        __type: type,
        message: throttle
          ? 'The level of configured provisioned throughput for the table was exceeded (injected fault).'
          : 'Internal server error (injected fault)',
      }),
    );
    return true;
  };

  return {
    settings: () => current,
    update: (input) => {
      current = validateFaults({ ...current, ...input });
      return current;
    },
    intercept: async (service, req, body, res, upstream) => {
      if (service === 'kinesis') return kinesis(req, body, res, upstream);
      if (service === 'dynamodb') return dynamodb(req, body, res);
      return false;
    },
    counts,
  };
};
