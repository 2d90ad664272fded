import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CheckpointFileError,
  InMemoryCheckpointStore,
  JsonFileCheckpointStore,
} from '#local/esm/checkpoint-store.ts';

describe('Checkpoint stores', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'esm-checkpoints-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('keeps checkpoints per mapping and shard in memory', async () => {
    // Prepare
    const store = new InMemoryCheckpointStore();

    // Act
    await store.save('fn/Stream', 'shardId-000000000000', { sequenceNumber: '1' });
    await store.save('fn/Stream', 'shardId-000000000001', { finished: true });
    await store.save('other/Stream', 'shardId-000000000000', { startedAtMs: 5 });

    // Assess
    expect(await store.load('fn/Stream')).toEqual({
      'shardId-000000000000': { sequenceNumber: '1' },
      'shardId-000000000001': { finished: true },
    });
    expect(await store.load('other/Stream')).toEqual({ 'shardId-000000000000': { startedAtMs: 5 } });
    expect(await store.load('missing')).toEqual({});
  });

  it('hands out copies, so a caller cannot change what is stored', async () => {
    // Prepare
    const store = new InMemoryCheckpointStore();
    await store.save('m', 's', { sequenceNumber: '1' });

    // Act
    const loaded = await store.load('m');
    loaded.s!.sequenceNumber = '2';

    // Assess
    expect(await store.load('m')).toEqual({ s: { sequenceNumber: '1' } });
  });

  it('persists checkpoints in a JSON file that a new instance reads back', async () => {
    // Prepare
    const path = join(directory, 'nested', 'checkpoints.json');
    const store = new JsonFileCheckpointStore(path);

    // Act
    await store.save('fn/Stream', 'shardId-000000000000', { sequenceNumber: '42' });
    await store.save('fn/Stream', 'shardId-000000000001', { sequenceNumber: '7', finished: true });
    const reopened = new JsonFileCheckpointStore(path);

    // Assess
    expect(await reopened.load('fn/Stream')).toEqual({
      'shardId-000000000000': { sequenceNumber: '42' },
      'shardId-000000000001': { sequenceNumber: '7', finished: true },
    });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      version: 1,
      mappings: {
        'fn/Stream': {
          'shardId-000000000000': { sequenceNumber: '42' },
          'shardId-000000000001': { sequenceNumber: '7', finished: true },
        },
      },
    });
  });

  it('ends concurrent saves with the last value of each shard and no temporary file left', async () => {
    // Prepare
    const path = join(directory, 'checkpoints.json');
    const store = new JsonFileCheckpointStore(path);

    // Act
    await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        store.save('m', `shardId-00000000000${index % 3}`, { sequenceNumber: String(index) }),
      ),
    );

    // Assess
    expect(await new JsonFileCheckpointStore(path).load('m')).toEqual({
      'shardId-000000000000': { sequenceNumber: '48' },
      'shardId-000000000001': { sequenceNumber: '49' },
      'shardId-000000000002': { sequenceNumber: '47' },
    });
    expect(await readdir(directory)).toEqual(['checkpoints.json']);
  });

  it('forgets a removed mapping', async () => {
    // Prepare
    const path = join(directory, 'checkpoints.json');
    const store = new JsonFileCheckpointStore(path);
    await store.save('a', 's', { sequenceNumber: '1' });
    await store.save('b', 's', { sequenceNumber: '2' });

    // Act
    await store.remove('a');

    // Assess
    const reopened = new JsonFileCheckpointStore(path);
    expect(await reopened.load('a')).toEqual({});
    expect(await reopened.load('b')).toEqual({ s: { sequenceNumber: '2' } });
  });

  it('refuses a corrupt file instead of starting over', async () => {
    // Prepare
    const path = join(directory, 'checkpoints.json');
    await writeFile(path, '{"version":1,"mappings":');

    // Act
    const load = new JsonFileCheckpointStore(path).load('m');

    // Assess
    await expect(load).rejects.toThrow(CheckpointFileError);
    await expect(new JsonFileCheckpointStore(path).load('m')).rejects.toThrow(
      /checkpoints\.json is unreadable: .*; move it away to start without it .*, or start with --fresh/,
    );
  });

  it.each([
    ['a sequence number that is not a number', { m: { 'shardId-000000000000': { sequenceNumber: 'abc' } } }],
    ['a sequence number stored as a JSON number', { m: { 'shardId-000000000000': { sequenceNumber: 1 } } }],
    ['a shard that is not an object', { m: { 'shardId-000000000000': 'done' } }],
    ['a mapping list instead of a map', []],
  ])('refuses a file with %s, naming where', async (_, mappings) => {
    // Prepare
    const path = join(directory, 'checkpoints.json');
    await writeFile(path, JSON.stringify({ version: 1, mappings }));

    // Act
    const load = new JsonFileCheckpointStore(path).load('m');

    // Assess
    await expect(load).rejects.toThrow(CheckpointFileError);
    await expect(new JsonFileCheckpointStore(path).load('m')).rejects.toThrow(/mappings/);
  });
});
