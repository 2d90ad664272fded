import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type KinesisClient, ListShardsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { describeNames, type FunctionNames, findByName } from '#local/functions/function-names.ts';
import { endToEndHeaders, forwardedRequestHeaders, sendJsonError } from '#local/gateway.ts';
import { readBody } from '#local/net.ts';
import {
  acceptedPutRequest,
  applyFaults,
  internalFailure,
  throughputExceeded,
  type WirePutRecordsEntry,
} from './put-records-faults.ts';

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
  /** Only this function (its logical id or its FunctionName) gets function faults; all when absent. */
  functionName?: string;
}

export const DEFAULT_FAULTS: FaultSettings = {
  putRecordsFailureRate: 0,
  shardWriteLimits: false,
  dynamodbMode: 'throttle',
};

/** `text` or `/regex/flags` → the string or the RegExp it stands for (g and y, which make test() stateful, dropped). */
export const parsePattern = (pattern: string): string | RegExp => {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  return regex ? new RegExp(regex[1]!, regex[2]!.replace(/[gy]/g, '')) : pattern;
};

/** `text` or `/regex/flags` → a predicate. */
export const patternMatcher = (pattern: string): ((text: string) => boolean) => {
  const parsed = parsePattern(pattern);
  return typeof parsed === 'string' ? (text) => text.includes(parsed) : (text) => parsed.test(text);
};

/** Every setting, in the order error messages list them. */
export const FAULT_SETTING_NAMES = [
  'putRecordsFailureRate',
  'shardWriteLimits',
  'dynamodbPattern',
  'dynamodbMode',
  'functionPattern',
  'functionName',
] as const satisfies ReadonlyArray<keyof FaultSettings>;

export class FaultSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSettingsError';
  }
}

const shown = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
};

/** A pattern setting: the pattern to keep, null to clear it, or the problem with it. */
const checkPattern = (key: string, value: unknown): { pattern: string | null } | { problem: string } => {
  if (value === null || value === '') return { pattern: null };
  if (typeof value !== 'string')
    return {
      problem: `${key} must be a string (text or /regex/), or "" or null to clear it, got ${shown(value)}`,
    };
  try {
    patternMatcher(value);
  } catch (error) {
    return { problem: `${key} is not a valid regular expression: ${(error as Error).message}` };
  }
  return { pattern: value };
};

/**
 * Applies a change of some settings (a JSON object, as PUT /_local/faults takes it) to `base`. Throws a
 * FaultSettingsError naming every problem found, and then nothing of the change applies.
 */
export const validateFaults = (
  input: unknown,
  base: FaultSettings = DEFAULT_FAULTS,
  /** The template's functions, when known: a functionName among none of them would never fire. */
  functions?: readonly FunctionNames[],
): FaultSettings => {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new FaultSettingsError(`the fault settings must be a JSON object, got ${shown(input)}`);
  const next: FaultSettings = { ...base };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    // Not given: JSON has no undefined, but a TypeScript caller may spread one in.
    if (value === undefined) continue;
    switch (key) {
      case 'putRecordsFailureRate':
        if (typeof value !== 'number')
          problems.push(`putRecordsFailureRate must be a number between 0 and 1, got ${shown(value)}`);
        else if (!(value >= 0 && value <= 1))
          problems.push(`putRecordsFailureRate must be between 0 and 1, got ${value}`);
        else next.putRecordsFailureRate = value;
        break;
      case 'shardWriteLimits':
        if (typeof value !== 'boolean')
          problems.push(`shardWriteLimits must be true or false, got ${shown(value)}`);
        else next.shardWriteLimits = value;
        break;
      case 'dynamodbMode':
        if (value !== 'throttle' && value !== 'error')
          problems.push(`dynamodbMode must be throttle or error, got ${shown(value)}`);
        else next.dynamodbMode = value;
        break;
      case 'dynamodbPattern':
      case 'functionPattern': {
        const checked = checkPattern(key, value);
        if ('problem' in checked) problems.push(checked.problem);
        else if (checked.pattern === null) delete next[key];
        else next[key] = checked.pattern;
        break;
      }
      case 'functionName':
        if (value === null || value === '') delete next.functionName;
        else if (typeof value !== 'string')
          problems.push(
            `functionName must be a string (a function's logical id or FunctionName), or "" or null to clear it, got ${shown(value)}`,
          );
        else if (functions !== undefined && !findByName(functions, value))
          problems.push(
            `functionName '${value}' is not a function of the template; the functions are ${functions.map(describeNames).join(', ')}`,
          );
        else next.functionName = value;
        break;
      default:
        problems.push(`unknown fault setting '${key}'; the settings are ${FAULT_SETTING_NAMES.join(', ')}`);
    }
  }
  if (problems.length > 0) throw new FaultSettingsError(problems.join('; '));
  return next;
};

/** Per-shard write limits: a one-second sliding window of records and bytes. */
export const SHARD_RECORDS_PER_SECOND = 1_000;
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;

export interface ShardRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

/**
 * The open shards of a stream and their hash-key ranges, which writes go to. Closed parents are left out by their
 * ending sequence number: kinesalite ignores ListShards' ShardFilter and lists them too, and a limiter that found
 * a write's key in a closed parent's range would count a split stream's writes as one shard's.
 */
export const openShardRanges = async (
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
): Promise<ShardRange[]> => {
  const ranges: ShardRange[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(
        nextToken ? { NextToken: nextToken } : { StreamName: streamName, ShardFilter: { Type: 'AT_LATEST' } },
      ),
    );
    for (const shard of page.Shards ?? []) {
      if (shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) continue;
      ranges.push({
        shardId: shard.ShardId!,
        start: BigInt(shard.HashKeyRange!.StartingHashKey!),
        end: BigInt(shard.HashKeyRange!.EndingHashKey!),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return ranges;
};

/** A shard's writes of the last second, oldest first from `head`, with their bytes added up. */
interface ShardWindow {
  writes: Array<{ at: number; bytes: number }>;
  head: number;
  bytes: number;
}

export class ShardWriteLimiter {
  private readonly windows = new Map<string, ShardWindow>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /**
   * Takes capacity for one record; false when the shard has none left in the current second. Writes leave the
   * window from its head, so that a record costs the same whatever the window holds (it is on every entry's path).
   */
  take(shardId: string, bytes: number): boolean {
    const now = this.now();
    let window = this.windows.get(shardId);
    if (!window) {
      window = { writes: [], head: 0, bytes: 0 };
      this.windows.set(shardId, window);
    }
    const { writes } = window;
    while (window.head < writes.length && now - writes[window.head]!.at >= 1_000) {
      window.bytes -= writes[window.head]!.bytes;
      window.head += 1;
    }
    if (window.head >= SHARD_RECORDS_PER_SECOND) {
      writes.splice(0, window.head);
      window.head = 0;
    }
    if (
      writes.length - window.head + 1 > SHARD_RECORDS_PER_SECOND ||
      window.bytes + bytes > SHARD_BYTES_PER_SECOND
    ) {
      return false;
    }
    writes.push({ at: now, bytes });
    window.bytes += bytes;
    return true;
  }
}

export const hashKeyOf = (entry: { PartitionKey?: string; ExplicitHashKey?: string | null }): bigint =>
  entry.ExplicitHashKey !== undefined && entry.ExplicitHashKey !== null
    ? BigInt(entry.ExplicitHashKey)
    : BigInt(
        `0x${createHash('md5')
          .update(entry.PartitionKey ?? '', 'utf8')
          .digest('hex')}`,
      );

export interface FaultInjector {
  settings(): FaultSettings;
  /** Changes the settings named (as PUT /_local/faults does); throws FaultSettingsError, changing nothing. */
  update(input: Partial<FaultSettings>): FaultSettings;
  /** Gateway hook: answers the request itself when a fault applies. */
  intercept(
    service: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    upstream: string,
  ): Promise<boolean>;
  /** Counts of injected faults, for the live view; `functionErrors` counts invocations failed by `functionPattern`. */
  counts: { putRecordsEntries: number; throttledEntries: number; dynamodb: number; functionErrors: number };
}

interface ForwardedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const forwardJson = (upstream: string, req: IncomingMessage, body: string): Promise<ForwardedAnswer> =>
  new Promise((resolve, reject) => {
    const origin = new URL(upstream);
    const out = request(
      {
        hostname: origin.hostname,
        port: origin.port,
        // The path as it came, never resolved against the emulator's URL, where `//host/…` would name another host.
        path: req.url ?? '/',
        method: req.method,
        headers: forwardedRequestHeaders(req.headers, Buffer.byteLength(body)),
      },
      (answer) => {
        // No limit: the answer is always the whole body.
        readBody(answer).then(
          (body) =>
            resolve({
              status: answer.statusCode ?? 502,
              headers: endToEndHeaders(answer.headers),
              text: (body as Buffer).toString('utf8'),
            }),
          reject,
        );
      },
    );
    out.on('error', reject);
    out.end(body);
  });

/** The Records of a PutRecords answer when it has one result per entry sent, else undefined. */
const forwardedResults = (answer: ForwardedAnswer, sent: number): PutRecordsResultEntry[] | undefined => {
  if (answer.status !== 200) return undefined;
  try {
    const { Records } = JSON.parse(answer.text) as { Records?: unknown };
    return Array.isArray(Records) && Records.length === sent
      ? (Records as PutRecordsResultEntry[])
      : undefined;
  } catch {
    return undefined;
  }
};

const PUT_OPERATIONS = new Map<string, 'PutRecords' | 'PutRecord'>([
  ['Kinesis_20131202.PutRecords', 'PutRecords'],
  ['Kinesis_20131202.PutRecord', 'PutRecord'],
]);

/** A signed AWS JSON 1.1 request, the only kind the emulator reads a body of. */
const isSignedAwsJson = (req: IncomingMessage): boolean =>
  String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim() === 'application/x-amz-json-1.1' &&
  (req.headers.authorization !== undefined ||
    new URL(req.url ?? '/', 'http://local').searchParams.has('X-Amz-Algorithm'));

/** The JSON object `text` holds, or undefined when it holds none. */
const jsonObjectOf = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/**
 * DynamoDB's answer to a throttled request on an on-demand (PAY_PER_REQUEST) table, which has no provisioned
 * throughput to exceed: ThrottlingException, HTTP 400, where a provisioned table answers
 * ProvisionedThroughputExceededException.
 */
export const ON_DEMAND_THROTTLING_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html';

/** The table a DynamoDB write names (the first one, for a batch or a transaction), or undefined when it names none. */
export const writtenTable = (operation: string, input: Record<string, unknown>): string | undefined => {
  const named = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  if (operation === 'BatchWriteItem') {
    const items = input.RequestItems;
    return typeof items === 'object' && items !== null ? named(Object.keys(items)[0]) : undefined;
  }
  if (operation === 'TransactWriteItems') {
    const first: unknown = Array.isArray(input.TransactItems) ? input.TransactItems[0] : undefined;
    if (typeof first !== 'object' || first === null) return undefined;
    for (const action of Object.values(first))
      if (typeof action === 'object' && action !== null)
        return named((action as { TableName?: unknown }).TableName);
    return undefined;
  }
  return named(input.TableName);
};

/** A table's BillingMode, as DescribeTable gives it (PROVISIONED when it says none, as CreateTable's default). */
export const tableBillingMode = async (
  dynamodb: Pick<DynamoDBClient, 'send'>,
  tableName: string,
): Promise<string> => {
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  return Table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED';
};

export const createFaultInjector = (
  initial: Partial<FaultSettings>,
  shardsOf: (streamName: string) => Promise<ShardRange[]>,
  random: () => number = Math.random,
  /** The template's functions: `functionName` must name one of them. */
  functions?: readonly FunctionNames[],
  /**
   * A table's BillingMode (`tableBillingMode`), which decides how a throttled write is answered; it throws when the
   * table does not exist, and the write then reaches the emulator. Without it, tables are taken as provisioned.
   */
  billingModeOf?: (tableName: string) => Promise<string | undefined>,
): FaultInjector => {
  let current = validateFaults(initial, DEFAULT_FAULTS, functions);
  const limiter = new ShardWriteLimiter();
  const counts = { putRecordsEntries: 0, throttledEntries: 0, dynamodb: 0, functionErrors: 0 };

  const shardFor = (ranges: ShardRange[], entry: WirePutRecordsEntry) => {
    const hash = hashKeyOf(entry);
    return ranges.find((r) => r.start <= hash && hash <= r.end)?.shardId ?? 'shardId-000000000000';
  };

  /**
   * Faults go only into requests the emulator would take: any other (malformed, over 500 records, for a stream
   * that does not exist) reaches it unchanged, so that it answers with its own error, as Kinesis does.
   */
  const kinesis = async (
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    upstream: string,
  ): Promise<boolean> => {
    if (current.putRecordsFailureRate === 0 && !current.shardWriteLimits) return false;
    const operation = PUT_OPERATIONS.get(String(req.headers['x-amz-target'] ?? ''));
    if (!operation || !isSignedAwsJson(req)) return false;
    const accepted = acceptedPutRequest(operation, body);
    if (!accepted) return false;
    const { streamName, input, entries, sizes } = accepted;
    let ranges: ShardRange[];
    try {
      ranges = await shardsOf(streamName);
    } catch {
      // ResourceNotFoundException above all: the emulator answers it, in its own words.
      return false;
    }
    const decide = (entry: WirePutRecordsEntry, position: number): PutRecordsResultEntry | undefined => {
      if (random() < current.putRecordsFailureRate) {
        counts.putRecordsEntries += 1;
        return internalFailure();
      }
      if (current.shardWriteLimits) {
        const shardId = shardFor(ranges, entry);
        if (!limiter.take(`${streamName}/${shardId}`, sizes[position]!)) {
          counts.throttledEntries += 1;
          return throughputExceeded(shardId, streamName);
        }
      }
      return undefined;
    };

    if (operation === 'PutRecord') {
      const fault = decide(entries[0]!, 0);
      if (!fault) return false;
      const type =
        fault.ErrorCode === 'InternalFailure' ? 'InternalFailure' : 'ProvisionedThroughputExceededException';
      sendJsonError(res, type === 'InternalFailure' ? 500 : 400, type, fault.ErrorMessage ?? '');
      return true;
    }

    const { forward, merge } = applyFaults(entries, decide);
    if (forward.length === entries.length) return false;
    let results: PutRecordsResultEntry[] = [];
    if (forward.length > 0) {
      let answer: ForwardedAnswer;
      try {
        answer = await forwardJson(upstream, req, JSON.stringify({ ...input, Records: forward }));
      } catch (error) {
        sendJsonError(res, 502, 'ServiceUnavailable', `kinesis emulator: ${(error as Error).message}`);
        return true;
      }
      const forwarded = forwardedResults(answer, forward.length);
      if (!forwarded) {
        // The emulator refused the entries left (or answered oddly): its answer stands for the whole request.
        res.writeHead(answer.status, answer.headers);
        res.end(answer.text);
        return true;
      }
      results = forwarded;
    }
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(merge(results)));
    return true;
  };

  const dynamodb = async (req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<boolean> => {
    if (!current.dynamodbPattern) return false;
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = /\.(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/.exec(
      target,
    )?.[1];
    if (!operation) return false;
    const text = body.toString('utf8');
    if (!patternMatcher(current.dynamodbPattern)(text)) return false;
    // A body that is not a JSON object gets the emulator's SerializationException, not an injected fault.
    const input = jsonObjectOf(text);
    if (!input) return false;
    const throttle = current.dynamodbMode === 'throttle';
    let billingMode: string | undefined;
    const table = writtenTable(operation, input);
    if (billingModeOf && table !== undefined) {
      try {
        billingMode = await billingModeOf(table);
      } catch {
        // ResourceNotFoundException above all: the emulator answers it, in its own words.
        return false;
      }
    }
    counts.dynamodb += 1;
    const [type, message] = !throttle
      ? ['com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error (injected fault)']
      : billingMode === 'PAY_PER_REQUEST'
        ? [
            'com.amazon.coral.availability#ThrottlingException',
            `${ON_DEMAND_THROTTLING_MESSAGE} (injected fault)`,
          ]
        : [
            'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
            'The level of configured provisioned throughput for the table was exceeded (injected fault).',
          ];
    res.writeHead(throttle ? 400 : 500, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-errortype': type.split('#')[1]!,
    });
    res.end(JSON.stringify({ __type: type, message }));
    return true;
  };

  return {
    settings: () => current,
    update: (input) => {
      current = validateFaults(input, current, functions);
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
