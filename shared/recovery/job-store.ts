import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isConditionFailure, unlessConditionFails } from '#shared/clients/dynamodb-errors.ts';

/**
 * Where reprocessing jobs keep their state: one item per job and one per shard of the job, all under the job's
 * id, so a job's checkpoints are its own and no stale checkpoint of another request can steer it. A shard is
 * worked on only under a lease (owner + expiry) taken with a conditional write, and every checkpoint is
 * conditional on still holding it.
 */

/** What a job was asked to do; a request that names the job again must ask the very same. */
export interface JobParameters {
  /** ISO 8601: the window's start (records that arrived at or after it). */
  from: string;
  /** ISO 8601: the window's end as asked; absent for "up to when the job started". */
  to?: string;
  /** The shards asked for (with their descendants); absent for every shard open at `from`. */
  shardIds?: string[];
  dryRun: boolean;
  maxRecordsPerSecond: number;
}

export type JobState = 'running' | 'done' | 'failed';

export interface JobItem {
  jobId: string;
  parameters: JobParameters;
  /** The sink's projection version the job writes; a job is never resumed by code of another version. */
  projectionVersion: number;
  /** ISO 8601: `to`, or the job's creation time when no `to` was given. */
  windowEnd: string;
  state: JobState;
  createdAt: string;
  updatedAt: string;
  /** How many invocations have worked on the job. */
  invocations: number;
  lastError?: string;
  /**
   * Set once every shard of the plan has been added. A job without it is still being planned, or its planner
   * stopped half-way: it is planned again (shards are added only where missing) before it is run.
   */
  planned?: boolean;
  /** What the stream could no longer give back of the window when the job was created. */
  warnings?: string[];
}

export type ShardState = 'pending' | 'reading' | 'done' | 'failed';

/**
 * Why a shard is done:
 * - `window-end`: a record arrived after the window's end (plus its grace);
 * - `shard-end`: the shard is closed and was read to its end;
 * - `tip`: the shard is open and nothing newer than the window is left;
 * - `skipped`: a parent ended at the window's end, so every record of this shard is past it.
 */
export type ShardEndReason = 'window-end' | 'shard-end' | 'tip' | 'skipped';

export interface ShardCounts {
  /** Stream records of the window processed (an aggregate counts once). */
  recordsRead: number;
  /** User records written, already stored, refused as older, and quarantined. */
  written: number;
  duplicates: number;
  staleVersions: number;
  quarantined: number;
  /** Stream records that still failed when the shard stopped. */
  failed: number;
}

/** The counts of a shard item (or of anything that carries them), alone. */
export const shardCounts = (from: ShardCounts): ShardCounts => ({
  recordsRead: from.recordsRead,
  written: from.written,
  duplicates: from.duplicates,
  staleVersions: from.staleVersions,
  quarantined: from.quarantined,
  failed: from.failed,
});

export interface ShardItem extends ShardCounts {
  jobId: string;
  shardId: string;
  /** Parents that are part of the job; the shard is read only once they are all done. */
  parents: string[];
  /** Where the shard starts when it has no position: the window's start, or the shard's beginning. */
  start: 'AT_TIMESTAMP' | 'TRIM_HORIZON';
  state: ShardState;
  endReason?: ShardEndReason;
  /** The last sequence number done: reading resumes after it. */
  position?: string;
  /** ISO 8601 arrival time of the record at `position`. */
  lastArrival?: string;
  lastError?: string;
  /**
   * Arrival-time ranges (ISO 8601) of the window that passed the stream's retention before this shard was read
   * up to them, found each time the shard is taken up: any records there were are gone.
   */
  agedOut?: AgedOutRange[];
  leaseOwner?: string;
  /** Epoch milliseconds. */
  leaseExpiresAt?: number;
  updatedAt: string;
}

export interface AgedOutRange {
  from: string;
  to: string;
}

/** What a worker writes at a checkpoint. */
export type ShardProgress = Partial<
  Pick<
    ShardItem,
    keyof ShardCounts | 'state' | 'endReason' | 'position' | 'lastArrival' | 'lastError' | 'agedOut'
  >
>;

/** The lease was taken over (it expired) or released: the worker must stop writing. */
export class LeaseLostError extends Error {
  constructor(jobId: string, shardId: string, owner: string) {
    super(`the lease on ${shardId} of job ${jobId} is no longer held by ${owner}`);
    this.name = 'LeaseLostError';
  }
}

export type JobUpdate = Partial<Pick<JobItem, 'state' | 'updatedAt' | 'planned'>> & {
  lastError?: string | null;
};

export interface JobStore {
  getJob(jobId: string): Promise<JobItem | undefined>;
  /** Creates the job unless one of that id exists; answers which. */
  createJob(job: JobItem): Promise<'created' | 'exists'>;
  /** Sets the fields given; a `lastError` of null removes it (a failed job taken up again). */
  updateJob(jobId: string, fields: JobUpdate): Promise<void>;
  /** Counts one more invocation of the job. */
  countInvocation(jobId: string, at: string): Promise<void>;
  /** Adds a shard to the job unless it is there already. */
  addShard(shard: ShardItem): Promise<void>;
  listShards(jobId: string): Promise<ShardItem[]>;
  /**
   * Takes the shard's lease for `owner` until `until` when it is free, expired at `now`, or already `owner`'s,
   * and the shard is not finished. Answers the shard as it now is, or undefined when another owner holds it.
   */
  acquireLease(
    jobId: string,
    shardId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<ShardItem | undefined>;
  /** Writes progress and extends the lease; throws LeaseLostError unless `owner` holds it. */
  checkpoint(
    jobId: string,
    shardId: string,
    owner: string,
    progress: ShardProgress,
    until: number,
    at: string,
  ): Promise<void>;
  /** Gives the lease up, if `owner` still holds it. */
  releaseLease(jobId: string, shardId: string, owner: string): Promise<void>;
  /** Marks a pending shard skipped (done), unless someone holds a live lease on it. */
  skipShard(jobId: string, shardId: string, now: number, at: string): Promise<void>;
  /** Puts a failed shard back to work (an explicit re-run), keeping its position and counts. */
  retryShard(jobId: string, shardId: string, at: string): Promise<void>;
}

const JOB_SORT_KEY = 'job';
const shardSortKey = (shardId: string) => `shard#${shardId}`;

export interface DynamoDbJobStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Days a job's items are kept after their last update (the table's TTL attribute, `expiresAt`). */
  retentionDays: number;
}

/** The jobs table's adapter: partition key `jobId`, sort key `item` (`job`, `shard#<shardId>`). */
export class DynamoDbJobStore implements JobStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #retentionSeconds: number;

  constructor(options: DynamoDbJobStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#retentionSeconds = options.retentionDays * 86_400;
  }

  #expiresAt(at: string): number {
    return Math.floor(Date.parse(at) / 1000) + this.#retentionSeconds;
  }

  async getJob(jobId: string): Promise<JobItem | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { jobId, item: JOB_SORT_KEY },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const { item: _item, expiresAt: _expiresAt, ...job } = Item;
    return job as JobItem;
  }

  async createJob(job: JobItem): Promise<'created' | 'exists'> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: { ...job, item: JOB_SORT_KEY, expiresAt: this.#expiresAt(job.updatedAt) },
          ConditionExpression: 'attribute_not_exists(jobId)',
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw error;
    }
  }

  async updateJob(jobId: string, fields: JobUpdate) {
    const values = {
      ...fields,
      ...(fields.updatedAt ? { expiresAt: this.#expiresAt(fields.updatedAt) } : {}),
    };
    await this.#update({ jobId, item: JOB_SORT_KEY }, values, 'attribute_exists(jobId)', {});
  }

  async countInvocation(jobId: string, at: string): Promise<void> {
    await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: { jobId, item: JOB_SORT_KEY },
        UpdateExpression: 'ADD invocations :one SET updatedAt = :at, expiresAt = :expiresAt',
        ConditionExpression: 'attribute_exists(jobId)',
        ExpressionAttributeValues: { ':one': 1, ':at': at, ':expiresAt': this.#expiresAt(at) },
      }),
    );
  }

  async addShard(shard: ShardItem): Promise<void> {
    await unlessConditionFails(
      this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: { ...shard, item: shardSortKey(shard.shardId), expiresAt: this.#expiresAt(shard.updatedAt) },
          ConditionExpression: 'attribute_not_exists(jobId)',
        }),
      ),
    );
  }

  async listShards(jobId: string): Promise<ShardItem[]> {
    const shards: ShardItem[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: 'jobId = :jobId AND begins_with(#item, :prefix)',
          ExpressionAttributeNames: { '#item': 'item' },
          ExpressionAttributeValues: { ':jobId': jobId, ':prefix': 'shard#' },
          ConsistentRead: true,
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        }),
      );
      for (const { item: _item, expiresAt: _expiresAt, ...shard } of page.Items ?? []) {
        shards.push(shard as ShardItem);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return shards;
  }

  async acquireLease(jobId: string, shardId: string, owner: string, now: number, until: number) {
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { jobId, item: shardSortKey(shardId) },
          UpdateExpression: 'SET leaseOwner = :owner, leaseExpiresAt = :until',
          ConditionExpression:
            'attribute_exists(jobId) AND #state IN (:pending, :reading) AND ' +
            '(attribute_not_exists(leaseOwner) OR leaseOwner = :owner OR leaseExpiresAt < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':until': until,
            ':now': now,
            ':pending': 'pending',
            ':reading': 'reading',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { item: _item, expiresAt: _expiresAt, ...shard } = Attributes ?? {};
      return shard as ShardItem;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async checkpoint(
    jobId: string,
    shardId: string,
    owner: string,
    progress: ShardProgress,
    until: number,
    at: string,
  ): Promise<void> {
    try {
      await this.#update(
        { jobId, item: shardSortKey(shardId) },
        { ...progress, leaseExpiresAt: until, updatedAt: at, expiresAt: this.#expiresAt(at) },
        'leaseOwner = :owner',
        { ':owner': owner },
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new LeaseLostError(jobId, shardId, owner);
      throw error;
    }
  }

  async releaseLease(jobId: string, shardId: string, owner: string): Promise<void> {
    await unlessConditionFails(
      this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { jobId, item: shardSortKey(shardId) },
          UpdateExpression: 'REMOVE leaseOwner, leaseExpiresAt',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  async skipShard(jobId: string, shardId: string, now: number, at: string): Promise<void> {
    await unlessConditionFails(
      this.#update(
        { jobId, item: shardSortKey(shardId) },
        { state: 'done', endReason: 'skipped', updatedAt: at, expiresAt: this.#expiresAt(at) },
        '#state = :pending AND (attribute_not_exists(leaseOwner) OR leaseExpiresAt < :now)',
        { ':pending': 'pending', ':now': now },
      ),
    );
  }

  async retryShard(jobId: string, shardId: string, at: string): Promise<void> {
    await unlessConditionFails(
      this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { jobId, item: shardSortKey(shardId) },
          UpdateExpression: 'SET #state = :reading, updatedAt = :at, expiresAt = :expiresAt REMOVE lastError',
          ConditionExpression: '#state = :failed',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':reading': 'reading',
            ':failed': 'failed',
            ':at': at,
            ':expiresAt': this.#expiresAt(at),
          },
        }),
      ),
    );
  }

  /** SET every defined field; `#state` and friends go through names, since some are reserved words. */
  async #update(
    key: Record<string, string>,
    fields: Record<string, unknown>,
    condition: string,
    conditionValues: Record<string, unknown>,
  ): Promise<void> {
    // A null field is removed; an undefined one is left as it is.
    const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ...conditionValues };
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [index, [name, value]] of entries.entries()) {
      names[`#f${index}`] = name;
      if (value === null) removes.push(`#f${index}`);
      else {
        values[`:f${index}`] = value;
        sets.push(`#f${index} = :f${index}`);
      }
    }
    if (condition.includes('#state')) names['#state'] = 'state';
    const expression = [
      sets.length > 0 ? `SET ${sets.join(', ')}` : '',
      removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
    ];
    await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: key,
        UpdateExpression: expression.filter(Boolean).join(' '),
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        // DynamoDB refuses an empty map: an update that only removes, under a condition without values, has none.
        ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
      }),
    );
  }
}

/** The same rules without DynamoDB, for unit tests. */
export class MemoryJobStore implements JobStore {
  readonly jobs = new Map<string, JobItem>();
  readonly shards = new Map<string, Map<string, ShardItem>>();
  /** Every lease decision, in order: who asked for which shard, and whether they got it. */
  readonly leaseDecisions: Array<{ shardId: string; owner: string; granted: boolean }> = [];

  async getJob(jobId: string) {
    const job = this.jobs.get(jobId);
    return job && structuredClone(job);
  }

  async createJob(job: JobItem) {
    if (this.jobs.has(job.jobId)) return 'exists' as const;
    this.jobs.set(job.jobId, structuredClone(job));
    this.shards.set(job.jobId, new Map());
    return 'created' as const;
  }

  async updateJob(jobId: string, fields: JobUpdate) {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    const { lastError, ...rest } = structuredClone(fields);
    Object.assign(job, rest);
    if (lastError === null) delete job.lastError;
    else if (lastError !== undefined) job.lastError = lastError;
  }

  async countInvocation(jobId: string, at: string) {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    job.invocations += 1;
    job.updatedAt = at;
  }

  async addShard(shard: ShardItem) {
    const shards = this.shards.get(shard.jobId);
    if (!shards) throw new Error(`no job ${shard.jobId}`);
    if (!shards.has(shard.shardId)) shards.set(shard.shardId, structuredClone(shard));
  }

  async listShards(jobId: string) {
    return [...(this.shards.get(jobId)?.values() ?? [])].map((shard) => structuredClone(shard));
  }

  #shard(jobId: string, shardId: string): ShardItem | undefined {
    return this.shards.get(jobId)?.get(shardId);
  }

  async acquireLease(jobId: string, shardId: string, owner: string, now: number, until: number) {
    const shard = this.#shard(jobId, shardId);
    const granted =
      shard !== undefined &&
      (shard.state === 'pending' || shard.state === 'reading') &&
      (shard.leaseOwner === undefined || shard.leaseOwner === owner || (shard.leaseExpiresAt ?? 0) < now);
    this.leaseDecisions.push({ shardId, owner, granted });
    if (!granted || !shard) return undefined;
    shard.leaseOwner = owner;
    shard.leaseExpiresAt = until;
    return structuredClone(shard);
  }

  async checkpoint(
    jobId: string,
    shardId: string,
    owner: string,
    progress: ShardProgress,
    until: number,
    at: string,
  ) {
    const shard = this.#shard(jobId, shardId);
    if (!shard || shard.leaseOwner !== owner) throw new LeaseLostError(jobId, shardId, owner);
    for (const [name, value] of Object.entries(progress)) {
      if (value !== undefined) (shard as unknown as Record<string, unknown>)[name] = structuredClone(value);
    }
    shard.leaseExpiresAt = until;
    shard.updatedAt = at;
  }

  async releaseLease(jobId: string, shardId: string, owner: string) {
    const shard = this.#shard(jobId, shardId);
    if (shard?.leaseOwner !== owner) return;
    delete shard.leaseOwner;
    delete shard.leaseExpiresAt;
  }

  async skipShard(jobId: string, shardId: string, now: number, at: string) {
    const shard = this.#shard(jobId, shardId);
    if (shard?.state !== 'pending') return;
    if (shard.leaseOwner !== undefined && (shard.leaseExpiresAt ?? 0) >= now) return;
    shard.state = 'done';
    shard.endReason = 'skipped';
    shard.updatedAt = at;
  }

  async retryShard(jobId: string, shardId: string, at: string) {
    const shard = this.#shard(jobId, shardId);
    if (shard?.state !== 'failed') return;
    shard.state = 'reading';
    delete shard.lastError;
    shard.updatedAt = at;
  }
}
