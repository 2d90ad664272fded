import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandInput,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  KinesisClient,
  ListShardsCommand,
  type ListShardsCommandInput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import type { Clock } from '#shared/kinesis/rate-limiter.ts';

/**
 * A Kinesis stream for unit tests, served through aws-sdk-client-mock: shards with records, splits and merges,
 * trimming, and the iterator rules of GetShardIterator / GetRecords (aws-behaviour.md §6). Faults can be
 * injected: expired iterators, throttling, a refused trimmed sequence number.
 */

export interface FakeRecord {
  SequenceNumber: string;
  PartitionKey: string;
  Data: Uint8Array;
  ApproximateArrivalTimestamp: Date;
}

interface FakeShard {
  ShardId: string;
  ParentShardId?: string;
  AdjacentParentShardId?: string;
  records: FakeRecord[];
  /** Records below this index aged out. */
  trimmed: number;
  createdAt: number;
  closedAt?: number;
  next: bigint;
  startingSequenceNumber: string;
}

export interface FakeCall {
  command: 'GetShardIterator' | 'GetRecords' | 'ListShards' | 'DescribeStreamSummary';
  input: Record<string, unknown>;
  /** The clock's time when the call was made. */
  at: number;
}

const awsError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

const shardIdOf = (index: number): string => `shardId-${String(index).padStart(12, '0')}`;

export class FakeKinesis {
  readonly streamName: string;
  readonly clock: Clock;
  readonly shards = new Map<string, FakeShard>();
  readonly calls: FakeCall[] = [];
  readonly faults = {
    /** GetRecords calls still to answer with ExpiredIteratorException. */
    expireGetRecords: 0,
    /** GetRecords calls still to answer with ProvisionedThroughputExceededException. */
    throttleGetRecords: 0,
    /** GetRecords calls still to answer with InvalidArgumentException. */
    refuseGetRecords: 0,
    /** AT_SEQUENCE_NUMBER of a trimmed record answers InvalidArgumentException (else: the oldest record left). */
    refuseTrimmed: false,
    /** Shards that answer ResourceNotFoundException. */
    gone: new Set<string>(),
    /** ListShards and DescribeStreamSummary calls still to answer with this error (by name), one per call. */
    controlPlane: [] as string[],
  };
  readonly mock = mockClient(KinesisClient);
  /** The stream's creation time (the clock's time when it was made) and retention, for DescribeStreamSummary. */
  createdAt: number;
  retentionHours = 24;
  #shardCount = 0;

  constructor(streamName: string, clock: Clock, shards = 1) {
    this.streamName = streamName;
    this.clock = clock;
    this.createdAt = clock.now();
    for (let i = 0; i < shards; i += 1) this.#addShard({});
    this.install();
  }

  /** (Re)installs the handlers, after a `mock.reset()`. */
  install(): void {
    this.mock.on(GetShardIteratorCommand).callsFake((input) => this.#getShardIterator(input));
    this.mock.on(GetRecordsCommand).callsFake((input) => this.#getRecords(input));
    this.mock.on(ListShardsCommand).callsFake((input) => this.#listShards(input));
    this.mock.on(DescribeStreamSummaryCommand).callsFake((input) => {
      this.#record('DescribeStreamSummary', input);
      this.#controlPlaneFault();
      return {
        StreamDescriptionSummary: {
          StreamName: this.streamName,
          StreamCreationTimestamp: new Date(this.createdAt),
          RetentionPeriodHours: this.retentionHours,
          OpenShardCount: [...this.shards.values()].filter((shard) => shard.closedAt === undefined).length,
        },
      };
    });
  }

  #addShard(parents: { ParentShardId?: string; AdjacentParentShardId?: string }): FakeShard {
    const index = this.#shardCount++;
    const base =
      49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000n + BigInt(index) * 10n ** 30n;
    const shard: FakeShard = {
      ShardId: shardIdOf(index),
      ...parents,
      records: [],
      trimmed: 0,
      createdAt: this.clock.now(),
      next: base + 1n,
      startingSequenceNumber: base.toString(),
    };
    this.shards.set(shard.ShardId, shard);
    return shard;
  }

  #shard(shardId: string): FakeShard {
    const shard = this.shards.get(shardId);
    if (!shard || this.faults.gone.has(shardId)) {
      throw awsError(
        'ResourceNotFoundException',
        `Shard ${shardId} in stream ${this.streamName} does not exist`,
      );
    }
    return shard;
  }

  /** Appends a record to an open shard, arriving now (or at `arrival`). */
  put(shardId: string, partitionKey: string, data: string | Uint8Array, arrival?: number): FakeRecord {
    const shard = this.#shard(shardId);
    if (shard.closedAt !== undefined) throw new Error(`${shardId} is closed`);
    const record: FakeRecord = {
      SequenceNumber: shard.next.toString(),
      PartitionKey: partitionKey,
      Data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
      ApproximateArrivalTimestamp: new Date(arrival ?? this.clock.now()),
    };
    // Gaps between sequence numbers, as on Kinesis.
    shard.next += 7n;
    shard.records.push(record);
    return record;
  }

  /** Closes `shardId` and opens two children. */
  split(shardId: string): [string, string] {
    const parent = this.#shard(shardId);
    parent.closedAt = this.clock.now();
    const a = this.#addShard({ ParentShardId: shardId });
    const b = this.#addShard({ ParentShardId: shardId });
    return [a.ShardId, b.ShardId];
  }

  /** Closes two shards and opens their merged child. */
  merge(shardId: string, adjacentShardId: string): string {
    const now = this.clock.now();
    this.#shard(shardId).closedAt = now;
    this.#shard(adjacentShardId).closedAt = now;
    return this.#addShard({ ParentShardId: shardId, AdjacentParentShardId: adjacentShardId }).ShardId;
  }

  /**
   * Marks a closed shard EXPIRED (all of its records past the retention): ListShards no longer lists it, and
   * reading it answers ResourceNotFoundException.
   */
  expire(shardId: string): void {
    if (this.#shard(shardId).closedAt === undefined) throw new Error(`${shardId} is open`);
    this.faults.gone.add(shardId);
  }

  /** Ages out the shard's first `count` records. */
  trim(shardId: string, count: number): void {
    const shard = this.#shard(shardId);
    shard.trimmed = Math.min(shard.records.length, shard.trimmed + count);
  }

  records(shardId: string): FakeRecord[] {
    return this.#shard(shardId).records;
  }

  startingSequenceNumber(shardId: string): string {
    return this.#shard(shardId).startingSequenceNumber;
  }

  callsOf(command: FakeCall['command']): FakeCall[] {
    return this.calls.filter((call) => call.command === command);
  }

  #record(command: FakeCall['command'], input: object): void {
    this.calls.push({ command, input: { ...input } as Record<string, unknown>, at: this.clock.now() });
  }

  #getShardIterator(input: GetShardIteratorCommandInput) {
    this.#record('GetShardIterator', input);
    const shard = this.#shard(input.ShardId!);
    const retained = shard.records.slice(shard.trimmed);
    const firstRetained = shard.trimmed;
    let index: number;
    const sequence = input.StartingSequenceNumber === undefined ? 0n : BigInt(input.StartingSequenceNumber);
    switch (input.ShardIteratorType) {
      case 'TRIM_HORIZON':
        index = firstRetained;
        break;
      case 'AT_SEQUENCE_NUMBER':
      case 'AFTER_SEQUENCE_NUMBER': {
        // A sequence number of another shard is refused, with the words Kinesis (and kinesalite) use.
        for (const [otherId, other] of this.shards) {
          if (
            otherId !== input.ShardId &&
            other.records.some((record) => BigInt(record.SequenceNumber) === sequence)
          ) {
            throw awsError(
              'InvalidArgumentException',
              `Invalid StartingSequenceNumber. It encodes ${otherId}, while it was used in a call to a shard with ${input.ShardId}`,
            );
          }
        }
        const oldest = retained[0];
        if (this.faults.refuseTrimmed && oldest && sequence < BigInt(oldest.SequenceNumber)) {
          throw awsError(
            'InvalidArgumentException',
            `StartingSequenceNumber ${sequence} is no longer available`,
          );
        }
        const found = shard.records.findIndex(
          (record, i) =>
            i >= firstRetained &&
            (input.ShardIteratorType === 'AT_SEQUENCE_NUMBER'
              ? BigInt(record.SequenceNumber) >= sequence
              : BigInt(record.SequenceNumber) > sequence),
        );
        index = found === -1 ? shard.records.length : found;
        break;
      }
      case 'AT_TIMESTAMP': {
        const at = (input.Timestamp as Date).getTime();
        const found = shard.records.findIndex(
          (record, i) => i >= firstRetained && record.ApproximateArrivalTimestamp.getTime() >= at,
        );
        index = found === -1 ? shard.records.length : found;
        break;
      }
      default:
        throw awsError('InvalidArgumentException', `unsupported iterator type ${input.ShardIteratorType}`);
    }
    return { ShardIterator: JSON.stringify({ shardId: shard.ShardId, index }) };
  }

  #getRecords(input: GetRecordsCommandInput): Partial<GetRecordsCommandOutput> {
    this.#record('GetRecords', input);
    if (this.faults.throttleGetRecords > 0) {
      this.faults.throttleGetRecords -= 1;
      throw awsError('ProvisionedThroughputExceededException', 'Rate exceeded for shard');
    }
    if (this.faults.expireGetRecords > 0) {
      this.faults.expireGetRecords -= 1;
      throw awsError('ExpiredIteratorException', 'Iterator expired');
    }
    if (this.faults.refuseGetRecords > 0) {
      this.faults.refuseGetRecords -= 1;
      throw awsError('InvalidArgumentException', 'ShardIterator is not valid');
    }
    const { shardId, index } = JSON.parse(input.ShardIterator!) as { shardId: string; index: number };
    const shard = this.#shard(shardId);
    const from = Math.max(index, shard.trimmed);
    const records = shard.records.slice(from, from + (input.Limit ?? 10_000));
    const nextIndex = from + records.length;
    const atEnd = nextIndex >= shard.records.length;
    const closed = shard.closedAt !== undefined;
    if (closed && atEnd && records.length === 0) {
      const children = [...this.shards.values()].filter(
        (child) => child.ParentShardId === shardId || child.AdjacentParentShardId === shardId,
      );
      return {
        Records: [],
        MillisBehindLatest: 0,
        ChildShards: children.map((child) => ({
          ShardId: child.ShardId,
          ParentShards: [child.ParentShardId, child.AdjacentParentShardId].filter(
            (id): id is string => id !== undefined,
          ),
          HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
        })),
      };
    }
    return {
      Records: records,
      NextShardIterator: JSON.stringify({ shardId, index: nextIndex }),
      MillisBehindLatest: atEnd ? 0 : 1_000,
    };
  }

  /** Throws the next control-plane fault, if one is queued: LimitExceededException as Kinesis words it. */
  #controlPlaneFault(): void {
    const name = this.faults.controlPlane.shift();
    if (name === undefined) return;
    const error = awsError(name, name === 'LimitExceededException' ? 'Rate exceeded for stream' : name);
    (error as { $metadata?: { httpStatusCode: number } }).$metadata = {
      httpStatusCode: name === 'InternalFailure' ? 500 : 400,
    };
    throw error;
  }

  #listShards(input: ListShardsCommandInput) {
    this.#record('ListShards', input);
    this.#controlPlaneFault();
    const type = input.ShardFilter?.Type;
    const at =
      type === 'AT_TIMESTAMP' || type === 'FROM_TIMESTAMP' ? input.ShardFilter!.Timestamp!.getTime() : 0;
    // AT_TIMESTAMP: the shards open at the time; FROM_TIMESTAMP: those open at or after it. Expired shards: never.
    const shards: Shard[] = [...this.shards.values()]
      .filter((shard) => !this.faults.gone.has(shard.ShardId))
      .filter((shard) => type !== 'AT_TIMESTAMP' || shard.createdAt <= at)
      .filter((shard) => (shard.closedAt ?? Number.POSITIVE_INFINITY) >= at)
      .map((shard) => ({
        ShardId: shard.ShardId,
        ...(shard.ParentShardId ? { ParentShardId: shard.ParentShardId } : {}),
        ...(shard.AdjacentParentShardId ? { AdjacentParentShardId: shard.AdjacentParentShardId } : {}),
        HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
        SequenceNumberRange: { StartingSequenceNumber: shard.startingSequenceNumber },
      }));
    return { Shards: shards };
  }
}

/**
 * A clock for tests: `sleep` moves time forward instead of waiting. Sleeps that overlap end at the latest of their
 * wake-up times, as they would in real time. With `realTime`, it starts at the wall clock and runs on from it.
 */
export const testClock = (options: { start?: number; realTime?: boolean } = {}) => {
  const started = Date.now();
  let offset = 0;
  let base = options.start ?? 1_800_000_000_000;
  const now = () => (options.realTime ? Date.now() + offset : base);
  return {
    now,
    sleep: async (ms: number) => {
      const wake = now() + Math.max(0, ms);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.realTime) offset = Math.max(offset, wake - Date.now());
      else base = Math.max(base, wake);
    },
    /** Moves time forward by `ms`. */
    advance: (ms: number) => {
      if (options.realTime) offset += ms;
      else base += ms;
    },
    started,
  };
};
