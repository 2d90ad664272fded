import { createDecipheriv } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire, Module } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { dirname, join } from 'node:path';
import {
  installChildShardOrdering,
  installSequenceArithmetic,
  parseSequence,
} from '#local/emulators/kinesalite-sequences.ts';
import { mendS3rverListing } from '#local/emulators/s3rver-listing.ts';
import { listenOn } from '#local/net.ts';

/**
 * The embedded protocol emulators, each started in this process on a loopback port. Used by the local runtime
 * (`npm start`) and by the integration tests, which start their own.
 */

const require = createRequire(import.meta.url);

export interface RunningEmulator {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export interface EmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** A folder to keep data in across restarts; in memory when absent. */
  path?: string;
}

/** The credentials every local client signs with. s3rver accepts only keys in its registry, so it gets these. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';

/** The server comes back too: local/emulators/thread.ts calls its request handler without a socket. */
const listen = async (
  server: Server,
  port: number,
  host: string,
): Promise<RunningEmulator & { server: Server }> => ({ ...(await listenOn(server, port, host)), server });

/** The parts of kinesalite's internals that `answerAtTimestampAfterLastRecord` uses. */
type KinesaliteCallback = (error: unknown, answer?: { ShardIterator: string }) => void;
type KinesaliteAction = (
  store: KinesaliteStore,
  data: Record<string, unknown>,
  cb: KinesaliteCallback,
) => void;
interface KinesaliteStore {
  getStreamDb(name: string): {
    createReadStream(range: { gt: string; lt: string }): NodeJS.ReadableStream & { destroy(): void };
  };
}
interface KinesaliteDb {
  resolveShardId(shardId: unknown): { shardId: string; shardIx: number };
  shardIxToHex(shardIx: number): string;
  createShardIterator(streamName: string, shardId: string, sequenceNumber: string): string;
}

/**
 * kinesalite's GetShardIterator of type AT_TIMESTAMP scans the shard for the first record that arrived at or after
 * the time, and never answers when there is none. Kinesis answers with an iterator that returns the next record to
 * arrive (aws-behaviour.md, AT_TIMESTAMP), which is what kinesalite's LATEST gives. kinesalite takes its actions
 * from `require('./actions/<name>')` when it loads, so the action is replaced in the module cache before that; no
 * option or hook of kinesalite reaches it. Everything else (missing or future timestamps, a sequence number given
 * as well, unknown streams and shards) is left to kinesalite's own action, with its own errors.
 */
const answerAtTimestampAfterLastRecord = (): void => {
  const path = require.resolve('kinesalite/actions/getShardIterator.js');
  const original = require(path) as KinesaliteAction & { answersAfterLastRecord?: true };
  if (original.answersAfterLastRecord) return;
  const db = require('kinesalite/db') as KinesaliteDb;
  const getShardIterator: KinesaliteAction = (store, data, cb) => {
    const timestamp = data.Timestamp;
    if (
      data.ShardIteratorType !== 'AT_TIMESTAMP' ||
      typeof timestamp !== 'number' ||
      timestamp * 1000 > Date.now() ||
      data.StartingSequenceNumber != null
    ) {
      original(store, data, cb);
      return;
    }
    // LATEST first: it checks the stream and the shard, and is where the iterator goes when no record is that recent.
    // Taken before the scan, it also returns whatever arrives while the scan runs.
    original(store, { ...data, ShardIteratorType: 'LATEST', Timestamp: undefined }, (error, latest) => {
      if (error) return cb(error);
      const { shardId, shardIx } = db.resolveShardId(data.ShardId);
      const records = store
        .getStreamDb(data.StreamName as string)
        .createReadStream({ gt: db.shardIxToHex(shardIx), lt: db.shardIxToHex(shardIx + 1) });
      let answered = false;
      const done: KinesaliteCallback = (...args) => {
        if (answered) return;
        answered = true;
        records.destroy();
        cb(...args);
      };
      records.on('data', (item: { key: string; value: { ApproximateArrivalTimestamp: number } }) => {
        if (answered || item.value.ApproximateArrivalTimestamp < timestamp) return;
        const sequenceNumber = item.key.split('/')[1]!;
        done(null, {
          ShardIterator: db.createShardIterator(data.StreamName as string, shardId, sequenceNumber),
        });
      });
      records.on('error', (scanError: unknown) => done(scanError));
      records.on('end', () => done(null, latest));
    });
  };
  require.cache[path]!.exports = Object.assign(getShardIterator, { answersAfterLastRecord: true as const });
};

/** A GetRecords answer, as kinesalite's action gives it. */
interface KinesaliteRecordsAnswer {
  MillisBehindLatest?: number;
  Records?: Array<{ SequenceNumber: string; ApproximateArrivalTimestamp: number }>;
}

/**
 * kinesalite answers every GetRecords with MillisBehindLatest 0 unless the shard is closed and read to its end.
 * Kinesis gives how far the answer is behind the tip: 0 when it reached the newest record, else how long ago its
 * last record arrived. Readers show it as their lag (the reprocessor's status without a `to`), so an answer whose
 * last record has newer records after it is given that age here. The stream and shard come from the iterator,
 * decrypted as kinesalite's own action does (its key and IV are exported by kinesalite/db); an answer with no
 * records, or an iterator that cannot be read, keeps kinesalite's value.
 */
const answerMillisBehindLatest = (): void => {
  const path = require.resolve('kinesalite/actions/getRecords.js');
  type GetRecords = (
    store: KinesaliteStore,
    data: Record<string, unknown>,
    cb: (error: unknown, answer?: KinesaliteRecordsAnswer) => void,
  ) => void;
  const original = require(path) as GetRecords & { answersMillisBehind?: true };
  if (original.answersMillisBehind) return;
  const db = require('kinesalite/db') as KinesaliteDb & { ITERATOR_PWD_KEY: Buffer; ITERATOR_PWD_IV: Buffer };
  /** `{ streamName, shardIx }` of an iterator: its fields are `time/stream/shardId/sequence/...`, encrypted. */
  const targetOf = (iterator: unknown): { streamName: string; shardIx: number } | undefined => {
    try {
      const buffer = Buffer.from(String(iterator), 'base64');
      const decipher = createDecipheriv('aes-256-cbc', db.ITERATOR_PWD_KEY, db.ITERATOR_PWD_IV);
      const pieces = Buffer.concat([decipher.update(buffer.subarray(8)), decipher.final()])
        .toString('utf8')
        .split('/');
      const shardIx = Number.parseInt(pieces[2]?.split('-')[1] ?? '', 10);
      return pieces.length === 5 && Number.isInteger(shardIx)
        ? { streamName: pieces[1]!, shardIx }
        : undefined;
    } catch {
      return undefined;
    }
  };
  const getRecords: GetRecords = (store, data, cb) =>
    original(store, data, (error, answer) => {
      const last = answer?.Records?.at(-1);
      const target = last && targetOf(data.ShardIterator);
      if (error || !last || !target) {
        cb(error, answer);
        return;
      }
      const shard = db.shardIxToHex(target.shardIx);
      const newer = store
        .getStreamDb(target.streamName)
        .createReadStream({ gt: `${shard}/${last.SequenceNumber}`, lt: db.shardIxToHex(target.shardIx + 1) });
      let answered = false;
      const done = (behind: boolean) => {
        if (answered) return;
        answered = true;
        newer.destroy();
        const age = Math.max(0, Math.round(Date.now() - last.ApproximateArrivalTimestamp * 1000));
        cb(null, behind ? { ...answer, MillisBehindLatest: age } : answer);
      };
      newer.on('data', () => done(true));
      newer.on('error', () => done(false));
      newer.on('end', () => done(false));
    });
  require.cache[path]!.exports = Object.assign(getRecords, { answersMillisBehind: true as const });
};

/** How many sequence numbers `rememberingParse` keeps, the most recently used. */
export const PARSED_SEQUENCES_KEPT = 1_024;

/**
 * kinesalite's PutRecords parses the starting sequence number of a record's shard again for every record: in a
 * profile of benchmark 3 that was half of the PutRecords action's CPU time in the emulator's thread. A sequence
 * number's parse is a pure function of its text, so `parse` is given a memory of the numbers it parsed last. Each
 * call gets a copy (every field is a string or a number), so a caller that changes its answer changes nothing else;
 * a number that does not parse throws every time.
 */
export const rememberingParse = (
  parse: (sequence: string) => Record<string, unknown>,
  original: (sequence: string) => Record<string, unknown>,
) => {
  const parsed = new Map<string, Record<string, unknown>>();
  const remembering = (sequence: string) => {
    const key = String(sequence);
    let answer = parsed.get(key);
    if (answer) {
      // Most recently used last: the shards' starting numbers stay while the numbers of records go through.
      parsed.delete(key);
    } else {
      answer = parse(sequence);
      if (parsed.size >= PARSED_SEQUENCES_KEPT) parsed.delete(parsed.keys().next().value!);
    }
    parsed.set(key, answer);
    return { ...answer };
  };
  return Object.assign(remembering, { remembers: true as const, original });
};

/** How often the Kinesis emulator drops the records its streams' retention has passed (`trimExpiredRecords`). */
export const KINESIS_TRIM_INTERVAL_MS = 60_000;

type SequenceParse = (sequence: string) => Record<string, unknown>;

/** Keys deleted in one batch by `trimExpiredRecords`, so that a long-unread shard is not held in memory at once. */
const TRIM_BATCH_KEYS = 1_000;

/** The parts of kinesalite's store (kinesalite/db's `create`) that `trimExpiredRecords` uses. */
interface KinesaliteLevel {
  createKeyStream(range: { gte: string; lt: string; limit?: number }): NodeJS.ReadableStream;
  createValueStream(): NodeJS.ReadableStream;
  batch(operations: Array<{ type: 'del'; key: string }>, cb: (error?: Error) => void): void;
}
interface KinesaliteTrimStore {
  metaDb: KinesaliteLevel;
  getStreamDb(name: string): KinesaliteLevel;
}

const collect = <T>(stream: NodeJS.ReadableStream): Promise<T[]> =>
  new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => items.push(item));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });

/**
 * Drops from every shard the records older than its stream's retention, with kinesalite's own rule (the time in the
 * sequence number before now less RetentionPeriodHours), and answers how many. kinesalite drops such a record only
 * when a GetRecords reads over it, and a consumer reads on from its checkpoint, after it: without this a runtime left
 * running kept every record it was ever given, its data folder growing for as long as it ran, where Kinesis keeps
 * them for the retention period. A shard's keys are its sequence numbers, which grow with their time, so the
 * expired records are the first ones and the scan stops at the first record kept.
 */
const trimExpiredRecords = async (store: KinesaliteTrimStore, now: number): Promise<number> => {
  const db = require('kinesalite/db') as KinesaliteDb & {
    parseSequence: SequenceParse & { original?: SequenceParse };
  };
  // Parsed without the memory of `rememberingParse`, which the numbers of a whole shard would fill.
  const parse = db.parseSequence.original ?? db.parseSequence;
  const timeOf = (key: string): number => parseSequence(key.split('/')[1]!, parse).seqTime as number;
  const streams = await collect<{
    StreamName: string;
    RetentionPeriodHours: number;
    Shards: Array<{ ShardId: string }>;
  }>(store.metaDb.createValueStream());
  let dropped = 0;
  for (const stream of streams) {
    const cutoff = now - stream.RetentionPeriodHours * 60 * 60 * 1000;
    const streamDb = store.getStreamDb(stream.StreamName);
    for (const shard of stream.Shards) {
      const { shardIx } = db.resolveShardId(shard.ShardId);
      const range = { gte: db.shardIxToHex(shardIx), lt: db.shardIxToHex(shardIx + 1) };
      for (;;) {
        const keys = await collect<string>(streamDb.createKeyStream({ ...range, limit: TRIM_BATCH_KEYS }));
        const kept = keys.findIndex((key) => timeOf(key) >= cutoff);
        const expired = kept === -1 ? keys : keys.slice(0, kept);
        if (expired.length === 0) break;
        await new Promise<void>((resolve, reject) =>
          streamDb.batch(
            expired.map((key) => ({ type: 'del', key })),
            (error) => (error ? reject(error) : resolve()),
          ),
        );
        dropped += expired.length;
        if (expired.length < keys.length) break;
      }
    }
  }
  return dropped;
};

export interface KinesisOptions extends EmulatorOptions {
  shardLimit?: number;
  /** How often the records past their stream's retention are dropped (`KINESIS_TRIM_INTERVAL_MS` by default). */
  trimIntervalMs?: number;
  /** The clock retention is measured by (Date.now by default); for tests. */
  clock?: () => number;
}

/**
 * kinesalite: streams become ACTIVE at once, so tests and the local runtime do not wait. An AT_TIMESTAMP iterator
 * is answered when no record is that recent, as Kinesis does (`answerAtTimestampAfterLastRecord`), and GetRecords
 * says how far behind the tip its answer is (`answerMillisBehindLatest`). Sequence numbers and hash keys are
 * computed with the language's big integers (local/emulators/kinesalite-sequences.ts), and parsed sequence numbers
 * are remembered (`rememberingParse`). A split or merged shard's children number after their parents
 * (`installChildShardOrdering`). Records past their stream's retention are dropped every `trimIntervalMs`
 * (`trimExpiredRecords`; `trimExpired` does it now).
 */
export const startKinesis = async (options: KinesisOptions = {}) => {
  answerAtTimestampAfterLastRecord();
  answerMillisBehindLatest();
  installSequenceArithmetic(rememberingParse);
  installChildShardOrdering();
  const kinesalite = require('kinesalite') as (opts: Record<string, unknown>) => Server;
  if (options.path) mkdirSync(options.path, { recursive: true });
  // kinesalite keeps its store to itself: it is taken as kinesalite makes it, with kinesalite/db's `create`.
  const db = require('kinesalite/db') as { create: (opts: Record<string, unknown>) => KinesaliteTrimStore };
  const create = db.create;
  let store: KinesaliteTrimStore | undefined;
  db.create = (opts) => {
    store = create(opts);
    return store;
  };
  let server: Server;
  try {
    server = kinesalite({
      createStreamMs: 0,
      deleteStreamMs: 0,
      updateStreamMs: 0,
      shardLimit: options.shardLimit ?? 1000,
      ...(options.path ? { path: options.path } : {}),
    });
  } finally {
    db.create = create;
  }
  const clock = options.clock ?? Date.now;
  let trimming: Promise<number> | undefined;
  const trimExpired = (): Promise<number> => {
    trimming ??= trimExpiredRecords(store!, clock()).finally(() => {
      trimming = undefined;
    });
    return trimming;
  };
  const running = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  // A failed pass (the store closing under it) is tried again at the next one.
  const timer = setInterval(
    () => void trimExpired().catch(() => undefined),
    options.trimIntervalMs ?? KINESIS_TRIM_INTERVAL_MS,
  );
  timer.unref();
  return {
    ...running,
    trimExpired,
    close: async () => {
      clearInterval(timer);
      await trimming?.catch(() => undefined);
      await running.close();
    },
  };
};

/** How many requests' expressions `rememberValidatedExpressions` keeps, and the longest key it keeps one under. */
export const VALIDATED_EXPRESSIONS_KEPT = 256;
export const VALIDATED_EXPRESSION_KEY_CHARS = 8_192;

/** The request fields dynalite's `validateExpressions` reads, and those it writes (what it parsed). */
const EXPRESSION_FIELDS = [
  'ExpressionAttributeNames',
  'ExpressionAttributeValues',
  'UpdateExpression',
  'ConditionExpression',
  'KeyConditionExpression',
  'FilterExpression',
  'ProjectionExpression',
] as const;
const PARSED_EXPRESSION_FIELDS = [
  '_updates',
  '_condition',
  '_keyCondition',
  '_filter',
  '_projection',
] as const;

/** A deep copy of parsed data, each object keeping its prototype (dynalite's parsers make some without one). */
const copyOfParsed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(copyOfParsed);
  if (value === null || typeof value !== 'object') return value;
  const copy = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
  for (const key of Object.keys(value)) copy[key] = copyOfParsed((value as Record<string, unknown>)[key]);
  return copy;
};

/**
 * dynalite validates and parses a request's expressions (condition, update, key condition, filter, projection) with
 * PEG parsers at every request: in a profile of benchmark 3 that was a fifth of its thread's time, about 36 µs per
 * conditional PutItem, for the same condition each time. `validateExpressions` is a function of seven fields of the
 * request (the expressions and their attribute names and values, all parsed from the request's JSON), which answers
 * an error message or nothing and sets the parsed fields, so it is given a memory keyed by those seven fields' JSON.
 * Each request gets its own copy of what was parsed. The actions call it through the module object.
 */
const rememberValidatedExpressions = (): void => {
  type Validate = ((data: Record<string, unknown>, ...rest: unknown[]) => string | undefined) & {
    remembers?: true;
    original?: Validate;
  };
  const validations = require('dynalite/validations') as { validateExpressions: Validate };
  if (validations.validateExpressions.remembers) return;
  const validate = validations.validateExpressions;
  const validated = new Map<string, { answer: string | undefined; parsed: Array<[string, unknown]> }>();
  const remembering: Validate = (data, ...rest) => {
    if (rest.length > 0) return validate(data, ...rest);
    const key = JSON.stringify(EXPRESSION_FIELDS.map((field) => data[field] ?? null));
    const known = validated.get(key);
    if (known) {
      for (const [field, value] of known.parsed) data[field] = copyOfParsed(value);
      return known.answer;
    }
    const answer = validate(data);
    if (key.length <= VALIDATED_EXPRESSION_KEY_CHARS) {
      if (validated.size >= VALIDATED_EXPRESSIONS_KEPT) validated.delete(validated.keys().next().value!);
      const parsed = PARSED_EXPRESSION_FIELDS.filter((field) => field in data).map(
        (field) => [field, copyOfParsed(data[field])] as [string, unknown],
      );
      validated.set(key, { answer, parsed });
    }
    return answer;
  };
  validations.validateExpressions = Object.assign(remembering, {
    remembers: true as const,
    original: validate,
  });
};

/** dynalite: tables become ACTIVE at once; validated expressions are remembered (`rememberValidatedExpressions`). */
export const startDynamoDb = async (options: EmulatorOptions = {}) => {
  rememberValidatedExpressions();
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path ? { path: options.path } : {}),
  });
  return listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
};

/**
 * Where local-aws-sqs departs from SQS in ways the replay runbook meets, mended in its bundled source as it loads:
 * it has no option or hook for them, and its messages are private to the bundle.
 */
export const SQS_FIXES = [
  {
    // SQS counts receives only: a dry-run replay, which makes its messages visible again, spends one receive.
    what: 'ChangeMessageVisibility counted as a receive',
    from: 'let n=Number(t.record.attributes.ApproximateReceiveCount)+1;',
    to: 'let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);',
  },
  {
    // SQS counts the messages available for retrieval; in-flight ones are ApproximateNumberOfMessagesNotVisible.
    what: 'ApproximateNumberOfMessages counting in-flight messages',
    from: 'ApproximateNumberOfMessages:String(S(this,E).filter(o=>!o.delayed).length)',
    to: 'ApproximateNumberOfMessages:String(S(this,E).filter(o=>!o.delayed&&o.visible).length)',
  },
  {
    // A redrive's messages to move, taken from ApproximateNumberOfMessages less the in-flight ones: with the fix
    // above that number already leaves them out, so they were taken off twice (a count below 0 with a peek).
    what: "a redrive's messages to move counting the in-flight ones off twice",
    from: 'this.ApproximateNumberOfMessagesToMove=Number(n)-Number(o)',
    to: 'this.ApproximateNumberOfMessagesToMove=Number(n)',
  },
  {
    // SQS answers a long poll as soon as it has a message; local-aws-sqs held what it had found (in flight, unseen)
    // until it had MaxNumberOfMessages or the wait ran out, so a receive of 10 from a queue of 3 took the whole wait.
    what: 'a long poll answered only once it holds MaxNumberOfMessages messages',
    from: 'if(r.length==e){clearInterval(c),clearTimeout(n),o();break}}},10)',
    to: 'if(r.length==e)break}r.length>0&&(clearInterval(c),clearTimeout(n),o())},10)',
  },
  {
    // SQS returns no message of a FIFO message group while one of its messages is in flight (received, neither
    // deleted nor visible again); local-aws-sqs returned the next ones, so a failed message's successors ran first.
    what: 'FIFO message groups not held back while a message of the group is in flight',
    from: 'for(let y of S(this,E))if(!y.delayed){if(y.visible){',
    to:
      'let groupsInFlight=new Set;if(this.FifoQueue)for(let y of S(this,E))!y.visible&&y.record.attributes.MessageGroupId&&groupsInFlight.add(y.record.attributes.MessageGroupId);' +
      'for(let y of S(this,E))if(!y.delayed){if(y.visible&&!groupsInFlight.has(y.record.attributes.MessageGroupId)){',
  },
  {
    // SQS counts a message's retention from when it was sent (its SentTimestamp); local-aws-sqs counted it from when
    // it took the message, so one put back after a restart got the whole period again, and never expired across
    // restarts. A message just sent is taken at once, and keeps the whole period.
    what: "a message's retention counted from when the emulator took it, not from when it was sent",
    from: 'i.tmRetention=setTimeout(()=>{S(this,Oe).call(this,i.record.MessageId)},this.MessageRetentionPeriod*1e3)',
    to: 'i.tmRetention=setTimeout(()=>{S(this,Oe).call(this,i.record.MessageId)},Math.max(0,(Number(t.attributes&&t.attributes.SentTimestamp)||Date.now())+this.MessageRetentionPeriod*1e3-Date.now()))',
  },
  {
    // The messages of a queue, which `startSqs` keeps across a restart: the package holds them privately.
    what: "no way to read a queue's messages",
    from: 'clearRecords(){',
    to: 'localRecords(){return S(this,E)}clearRecords(){',
  },
] as const;

/**
 * local-aws-sqs with `SQS_FIXES` applied, loaded once into the module cache, so every user of the package gets
 * the mended one. Each fix must match its source exactly once: another version of the package stops here, naming
 * the fix, instead of running unmended.
 */
const mendedLocalAwsSqs = (): unknown => {
  const path = require.resolve('local-aws-sqs');
  const cached = require.cache[path] as (NodeJS.Module & { mended?: true }) | undefined;
  if (cached?.mended) return cached.exports;
  let source = readFileSync(path, 'utf8');
  for (const fix of SQS_FIXES) {
    const found = source.split(fix.from).length - 1;
    if (found !== 1) {
      throw new Error(
        `local-aws-sqs: cannot mend ${fix.what}: the code it changes is found ${found} times in ${path} (the fix is written for version 2.0.2; see package-lock.json)`,
      );
    }
    source = source.replace(fix.from, fix.to);
  }
  const mended = new Module(path) as NodeJS.Module & {
    mended?: true;
    paths: string[];
    _compile(code: string, filename: string): void;
  };
  mended.filename = path;
  mended.paths = (Module as unknown as { _nodeModulePaths(from: string): string[] })._nodeModulePaths(
    dirname(path),
  );
  mended._compile(source, path);
  mended.loaded = true;
  mended.mended = true;
  require.cache[path] = mended;
  return mended.exports;
};

/** A message as local-aws-sqs holds it: plain JSON (body, ids, attributes, checksums). */
type SqsRecord = Record<string, unknown> & { MessageId: string; ReceiptHandle: string };

/** The parts of local-aws-sqs (mended) that `startSqs` uses. */
interface SqsService {
  PORT: number;
  Queues: Array<{
    QueueName: string;
    /** Seconds; a string when set by SetQueueAttributes. */
    MessageRetentionPeriod: number | string;
    localRecords(): Array<{ record: SqsRecord }>;
    newRecord(record: SqsRecord, delaySeconds: number): unknown;
  }>;
}

/** What a stopped SQS emulator leaves in its folder: each queue's messages, by queue name. */
interface SqsSnapshot {
  version: 1;
  savedAt: string;
  queues: Record<string, SqsRecord[]>;
}

export interface RunningSqs extends RunningEmulator {
  /**
   * Puts back the messages saved in the folder, into the queues of the same names (create them first), and says
   * how many each got, and how many of queues that no longer exist were dropped. They come back visible, with
   * their receive counts, ids and bodies; a message that was in flight when the emulator stopped is visible at
   * once. From then on the folder follows the queues (see `startSqs`). A message whose queue's retention period
   * has passed since it was sent is not put back, and counted as expired: SQS would have deleted it meanwhile; the
   * others expire when the period since they were sent ends. Only the first call that succeeds restores anything; a
   * file that cannot be read is refused with an error naming it, and left as it is.
   */
  restoreMessages(): {
    restored: Record<string, number>;
    dropped: Record<string, number>;
    expired: Record<string, number>;
  };
  /**
   * Saves the messages now, when they changed, instead of within the interval: for a send that something else is
   * made durable after (an event source mapping's checkpoint past the records an on-failure message points at).
   */
  saveNow(): void;
}

/** How often the messages are saved, once restored, when they have changed. */
export const SQS_SNAPSHOT_INTERVAL_MS = 1_000;

export interface SqsOptions extends EmulatorOptions {
  /** How often to save the messages when they changed (`SQS_SNAPSHOT_INTERVAL_MS` by default). */
  snapshotIntervalMs?: number;
  /** Told when saving the messages fails; the next save tries again (none does after the one at `close`). */
  onSnapshotError?: (error: Error) => void;
}

/** What a message's save depends on: its id and receive count (a body never changes). */
const fingerprint = (queues: SqsService['Queues']): string =>
  queues
    .map(
      (queue) =>
        `${queue.QueueName}:${queue
          .localRecords()
          .map(
            ({ record }) =>
              `${record.MessageId}/${(record.attributes as Record<string, unknown> | undefined)?.ApproximateReceiveCount}`,
          )
          .join(',')}`,
    )
    .join(';');

/**
 * local-aws-sqs (with `SQS_FIXES`): speaks both the JSON and the query protocol. It holds its messages in memory;
 * with `path`, they are kept in `<path>/messages.json`. `restoreMessages` puts the saved ones back; from then on
 * the file is written again within `snapshotIntervalMs` of any change (a message sent, received or deleted), and
 * at a clean stop (`close`). A crash loses at most the last interval's changes: messages sent in it are missing,
 * and those deleted in it come back, as SQS's at-least-once delivery allows. A send that must not be lost is saved
 * at once with `saveNow` (the event source mappings' on-failure messages). Saving starts only once the saved
 * messages are back, so that a start never overwrites them with empty queues; a start that fails before then
 * leaves the file as it was.
 */
export const startSqs = async (options: SqsOptions = {}): Promise<RunningSqs> => {
  const { createRequestHandler } = mendedLocalAwsSqs() as {
    createRequestHandler: (opts: Record<string, unknown>) => {
      service: SqsService;
      requestHandler: Parameters<typeof createServer>[1];
    };
  };
  const host = options.host ?? '127.0.0.1';
  const { service, requestHandler } = createRequestHandler({
    port: options.port ?? 0,
    hostname: host,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    emulateQueueCreationLifecycle: false,
  });
  const running = await listenOn(createServer(requestHandler), options.port ?? 0, host);
  // Queue URLs name the port: the one actually bound.
  service.PORT = running.port;
  const file = options.path ? join(options.path, 'messages.json') : undefined;
  let saved: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let restoredOnce = false;
  // The file may be written once its messages are back in the queues, or when there was none: a start that fails
  // before restoring, or a file that cannot be read, must not be overwritten with empty queues.
  const savedAtStart = file !== undefined && existsSync(file);
  /** Writes the messages if they changed since the last write. */
  const save = (target: string) => {
    const now = fingerprint(service.Queues);
    if (now === saved) return;
    const snapshot: SqsSnapshot = {
      version: 1,
      savedAt: new Date().toISOString(),
      queues: Object.fromEntries(
        service.Queues.map((queue) => [queue.QueueName, queue.localRecords().map(({ record }) => record)]),
      ),
    };
    mkdirSync(dirname(target), { recursive: true });
    // Written whole, then renamed: a save cut short leaves the previous file, never half of one.
    writeFileSync(`${target}.tmp`, JSON.stringify(snapshot));
    renameSync(`${target}.tmp`, target);
    saved = now;
  };
  return {
    ...running,
    restoreMessages: () => {
      const restored: Record<string, number> = {};
      const dropped: Record<string, number> = {};
      const expired: Record<string, number> = {};
      if (!file || restoredOnce) return { restored, dropped, expired };
      if (existsSync(file)) {
        const unreadable = (why: string, cause?: unknown) =>
          new Error(
            `cannot read the saved SQS messages in ${file} (${why}): move the file away to start without them`,
            { cause },
          );
        let snapshot: SqsSnapshot;
        try {
          snapshot = JSON.parse(readFileSync(file, 'utf8')) as SqsSnapshot;
        } catch (error) {
          throw unreadable((error as Error).message, error);
        }
        const queues: unknown = snapshot?.queues;
        if (
          snapshot?.version !== 1 ||
          typeof queues !== 'object' ||
          queues === null ||
          !Object.values(queues).every(Array.isArray)
        ) {
          throw unreadable('not a file of saved messages, version 1');
        }
        for (const [name, records] of Object.entries(snapshot.queues)) {
          if (records.length === 0) continue;
          const queue = service.Queues.find((q) => q.QueueName === name);
          if (!queue) {
            dropped[name] = records.length;
            continue;
          }
          const retentionMs = Number(queue.MessageRetentionPeriod) * 1000;
          const now = Date.now();
          for (const record of records) {
            const sent = Number((record.attributes as Record<string, unknown> | undefined)?.SentTimestamp);
            if (sent + retentionMs <= now) {
              expired[name] = (expired[name] ?? 0) + 1;
              continue;
            }
            queue.newRecord({ ...record, ReceiptHandle: '' }, 0);
            restored[name] = (restored[name] ?? 0) + 1;
          }
        }
      }
      restoredOnce = true;
      // The file now says what the queues hold (without the dropped messages), and follows them.
      save(file);
      timer = setInterval(() => {
        try {
          save(file);
        } catch (error) {
          options.onSnapshotError?.(error as Error);
        }
      }, options.snapshotIntervalMs ?? SQS_SNAPSHOT_INTERVAL_MS);
      timer.unref();
      return { restored, dropped, expired };
    },
    saveNow: () => {
      if (file && (restoredOnce || !savedAtStart)) save(file);
    },
    close: async () => {
      clearInterval(timer);
      try {
        if (file && (restoredOnce || !savedAtStart)) save(file);
      } catch (error) {
        // Told, and the emulator stopped all the same: the changes since the last save are not kept.
        options.onSnapshotError?.(
          new Error(`at stop, ${(error as Error).message}: the changes since the last save are lost`, {
            cause: error,
          }),
        );
      }
      await running.close();
    },
  };
};

/**
 * s3rver: the local credentials are registered so that SigV4-signed SDK requests are accepted, and its listings
 * with a delimiter give every common prefix (s3rver-listing.ts).
 */
export const startS3 = async (options: EmulatorOptions & { directory: string }) => {
  const S3rver = require('s3rver') as new (
    opts: Record<string, unknown>,
  ) => { run(): Promise<AddressInfo>; close(): Promise<void> };
  mendS3rverListing();
  mkdirSync(options.directory, { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const server = new S3rver({
    port: options.port ?? 0,
    address: host,
    silent: true,
    directory: options.directory,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    configureBuckets: [],
  });
  const address = await server.run();
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    close: () => server.close(),
  } satisfies RunningEmulator;
};

/** The part of leveldown (kinesalite's LevelDB binding) that `levelDbOpenProblem` uses. */
type LevelDown = (path: string) => {
  open(options: { createIfMissing: boolean }, cb: (error?: Error) => void): void;
  close(cb: (error?: Error) => void): void;
};

/**
 * Whether LevelDB refused to open a store because another process holds its LOCK file: its message is
 * `IO error: lock <path>/LOCK: Resource temporarily unavailable` (or `already held by process`). A LOCK file it could
 * not open at all (`IO error: <path>/LOCK: Permission denied`) is no lock held.
 */
export const isLevelDbLockHeld = (error: Error): boolean => /\block .*\bLOCK: /.test(error.message);

/** A data store LevelDB cannot open, named with the error when given, and the ways on. */
export const unopenableStore = (kind: string, path: string, cause?: string): string =>
  `the ${kind} data in ${path} cannot be opened${cause === undefined ? '' : ` (${cause})`}; move that folder ` +
  'away to start without it, or start with --fresh (which drops all the local data)';

/**
 * Why the LevelDB store in `path` cannot be opened: `locked`, another process holds it open (its LOCK file), or
 * `unreadable`, LevelDB cannot read it (a crash mid-write, a disk that filled up); undefined when it opens or does
 * not exist. The store is opened and closed again at once, before the emulators start: a store another runtime uses
 * must not be emptied under it (`--fresh`), and one that cannot be read is refused with its folder named here,
 * rather than by an emulator thread that ends on it.
 */
export const levelDbOpenProblem = (
  path: string,
): Promise<
  { locked: Error; unreadable?: undefined } | { unreadable: Error; locked?: undefined } | undefined
> => {
  const leveldown = createRequire(require.resolve('kinesalite'))('leveldown') as LevelDown;
  const store = leveldown(path);
  return new Promise((resolve) =>
    store.open({ createIfMissing: false }, (error) => {
      if (!error) store.close(() => resolve(undefined));
      else if (isLevelDbLockHeld(error)) resolve({ locked: error });
      // A folder whose parent does not exist yet fails on its LOCK file ("IO error: …/LOCK: No such file or
      // directory"), and one that exists but holds no store says so: neither is a problem, the emulator makes it.
      else if (/does not exist|No such file or directory/.test(error.message)) resolve(undefined);
      // Anything else, a LOCK file that cannot be opened (Permission denied) among them, is a store it cannot use.
      else resolve({ unreadable: error });
    }),
  );
};

/** Client settings for talking to one emulator from the AWS SDK v3. */
export const clientConfig = (endpoint: string) => ({
  endpoint,
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
});
