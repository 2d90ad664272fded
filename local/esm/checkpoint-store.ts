import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Where a Kinesis mapping stands in one shard. */
export interface ShardCheckpoint {
  /** The last sequence number fully processed; reading resumes after it. */
  sequenceNumber?: string;
  /** The shard is closed and every record in it was processed: its children may start. */
  finished?: boolean;
  /**
   * When a LATEST mapping first took this shard (epoch ms), before any record was processed. A restart reads the
   * records that arrived from then on, so nothing written while the runtime was down is lost.
   */
  startedAtMs?: number;
}

/** Keeps checkpoints per mapping and shard. Saves resolve once the checkpoint is durable. */
export interface CheckpointStore {
  load(mappingId: string): Promise<Record<string, ShardCheckpoint>>;
  save(mappingId: string, shardId: string, checkpoint: ShardCheckpoint): Promise<void>;
  /** Forgets a mapping, e.g. when its event is removed from the template. */
  remove(mappingId: string): Promise<void>;
}

type Checkpoints = Record<string, Record<string, ShardCheckpoint>>;

export class CheckpointFileError extends Error {
  constructor(path: string, cause: unknown) {
    super(
      `Checkpoint file ${path} is unreadable: ${cause instanceof Error ? cause.message : String(cause)}; move it ` +
        "away to start without it (the mappings then read their shards from their StartingPosition again, and the sink's " +
        'conditional writes absorb the repeats), or start with --fresh (which drops all the local data)',
      {
        cause,
      },
    );
    this.name = 'CheckpointFileError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The file's mappings, each field checked: a sequence number that is not a decimal string would fail later, deep in
 * a poller, with a message that names neither the file nor the shard.
 */
const checkedMappings = (mappings: unknown): Checkpoints => {
  if (!isObject(mappings)) throw new Error('mappings: expected an object of mappings');
  for (const [mappingId, shards] of Object.entries(mappings)) {
    if (!isObject(shards)) throw new Error(`mappings.${mappingId}: expected an object of shards`);
    for (const [shardId, checkpoint] of Object.entries(shards)) {
      const where = `mappings.${mappingId}.${shardId}`;
      if (!isObject(checkpoint)) throw new Error(`${where}: expected an object`);
      const { sequenceNumber, finished, startedAtMs } = checkpoint;
      if (
        sequenceNumber !== undefined &&
        (typeof sequenceNumber !== 'string' || !/^\d+$/.test(sequenceNumber))
      )
        throw new Error(`${where}.sequenceNumber: expected a string of digits`);
      if (finished !== undefined && typeof finished !== 'boolean')
        throw new Error(`${where}.finished: expected a boolean`);
      if (startedAtMs !== undefined && !Number.isFinite(startedAtMs))
        throw new Error(`${where}.startedAtMs: expected a number`);
    }
  }
  return mappings as Checkpoints;
};

/** Keeps checkpoints for the life of the process; for tests and `--fresh` runs. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly data: Checkpoints = {};

  async load(mappingId: string): Promise<Record<string, ShardCheckpoint>> {
    return structuredClone(this.data[mappingId] ?? {});
  }

  async save(mappingId: string, shardId: string, checkpoint: ShardCheckpoint): Promise<void> {
    this.data[mappingId] = { ...this.data[mappingId], [shardId]: { ...checkpoint } };
  }

  async remove(mappingId: string): Promise<void> {
    delete this.data[mappingId];
  }
}

/**
 * Keeps checkpoints in one JSON file (`{ "version": 1, "mappings": { <mappingId>: { <shardId>: {...} } } }`).
 * Every write goes to a temporary file that is flushed and renamed over the old one, so a crash leaves either
 * the old or the new file, never half of one. Writes that arrive while one is under way are merged into the
 * next. Use one instance per file.
 */
export class JsonFileCheckpointStore implements CheckpointStore {
  readonly path: string;
  private data: Checkpoints | undefined;
  private loading: Promise<Checkpoints> | undefined;
  private writing: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(path: string) {
    this.path = path;
  }

  async load(mappingId: string): Promise<Record<string, ShardCheckpoint>> {
    const data = await this.read();
    return structuredClone(data[mappingId] ?? {});
  }

  async save(mappingId: string, shardId: string, checkpoint: ShardCheckpoint): Promise<void> {
    const data = await this.read();
    data[mappingId] = { ...data[mappingId], [shardId]: { ...checkpoint } };
    await this.flush();
  }

  async remove(mappingId: string): Promise<void> {
    const data = await this.read();
    delete data[mappingId];
    await this.flush();
  }

  private read(): Promise<Checkpoints> {
    if (this.data) return Promise.resolve(this.data);
    this.loading ??= (async () => {
      let text: string;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new CheckpointFileError(this.path, error);
        this.data = {};
        return this.data;
      }
      try {
        const parsed = JSON.parse(text) as { version?: number; mappings?: unknown };
        if (parsed.version !== 1) throw new Error('expected {"version":1,"mappings":{...}}');
        this.data = checkedMappings(parsed.mappings);
        return this.data;
      } catch (error) {
        // Starting over would silently reprocess the whole stream, so refuse instead.
        throw new CheckpointFileError(this.path, error);
      }
    })();
    return this.loading;
  }

  /** Writes the current state; a call made while a write is under way waits for one more write after it. */
  private flush(): Promise<void> {
    if (!this.writing) {
      this.writing = this.write().finally(() => {
        this.writing = undefined;
      });
      return this.writing;
    }
    this.next ??= this.writing
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.flush();
      });
    return this.next;
  }

  // Hand-written: temp file, fsync, rename is the whole of an atomic write, and no package for it is installed.
  private async write(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.${randomUUID()}.tmp`;
    const text = `${JSON.stringify({ version: 1, mappings: this.data ?? {} }, null, 2)}\n`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
