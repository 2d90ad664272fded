import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startKinesis } from '#local/emulators/index.ts';
import { JsonFileCheckpointStore } from '#local/esm/checkpoint-store.ts';
import type { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import type { InvokeResult, KinesisEventProperties } from '#local/esm/types.ts';
import {
  createStream,
  type KinesisPollerFixture,
  kinesisClient,
  putRecords,
  startKinesisPoller,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

const DESTINATION = {
  OnFailure: { Type: 'SQS', Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' },
};
const TEN = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];

describe('Kinesis event source mapping: checkpoints, restarts and stopping', () => {
  let emulator: RunningEmulator;
  let client: KinesisClient;
  let directory: string;
  const pollers: KinesisPoller[] = [];

  beforeAll(async () => {
    emulator = await startKinesis();
    client = kinesisClient(emulator.endpoint);
    directory = await mkdtemp(join(tmpdir(), 'esm-checkpoint-'));
  });

  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** A poller whose checkpoints live in `path`; a new call with the same path is a restart. */
  const run = async (
    streamName: string,
    path: string,
    properties: KinesisEventProperties,
    respond?: KinesisPollerFixture['fn']['respond'],
    start = true,
  ) => {
    const fixture = await startKinesisPoller(client, streamName, properties, {
      checkpoints: new JsonFileCheckpointStore(path),
      mappingId: 'Consumer/Stream',
      ...(respond ? { respond } : {}),
      start,
    });
    pollers.push(fixture.poller);
    return fixture;
  };

  it('resumes after a restart with nothing checkpointed redelivered and nothing lost', async () => {
    // Prepare
    const streamName = await createStream(client);
    const written = await putRecords(
      client,
      streamName,
      TEN.map((data) => ({ key: 'k', data })),
    );
    const path = join(directory, `${streamName}.json`);
    let first: KinesisPollerFixture | undefined;
    let stopped: Promise<void> | undefined;
    first = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 }, (_, call) => {
      // The third batch succeeds while the poller is being stopped: it is finished and checkpointed.
      if (call === 3) stopped = first!.poller.stop();
      return {};
    });
    await waitFor(() => stopped !== undefined, 'the stop');
    await stopped;

    // Act
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.fn.batches()).toEqual([
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
    expect(second.fn.batches()).toEqual([
      ['7', '8'],
      ['9', '10'],
    ]);
    await waitFor(
      () => second.poller.stats().shards[0]?.checkpoint === written[9]!.SequenceNumber,
      'the checkpoint',
    );
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      version: 1,
      mappings: {
        'Consumer/Stream': { 'shardId-000000000000': { sequenceNumber: written[9]!.SequenceNumber } },
      },
    });
  });

  it('abandons a batch that fails while stopping: no retry, no on-failure record, no checkpoint', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(
      client,
      streamName,
      TEN.map((data) => ({ key: 'k', data })),
    );
    const path = join(directory, `${streamName}.json`);
    let first: KinesisPollerFixture | undefined;
    let stopped: Promise<void> | undefined;
    first = await run(
      streamName,
      path,
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 2,
        MaximumRetryAttempts: 0,
        DestinationConfig: DESTINATION,
      },
      (_, call): InvokeResult => {
        if (call === 2) {
          stopped = first!.poller.stop();
          return { functionError: 'Unhandled' };
        }
        return {};
      },
    );
    await waitFor(() => stopped !== undefined, 'the stop');
    await stopped;

    // Act
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.fn.batches()).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(first.failures.records).toEqual([]);
    expect(second.fn.batches().flat()).toEqual(['3', '4', '5', '6', '7', '8', '9', '10']);
  });

  it('returns from stop after timeoutMs and ignores a batch that completes later', async () => {
    // Prepare
    const streamName = await createStream(client);
    await putRecords(
      client,
      streamName,
      TEN.map((data) => ({ key: 'k', data })),
    );
    const path = join(directory, `${streamName}.json`);
    let release: () => void = () => undefined;
    const first = await run(
      streamName,
      path,
      { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 },
      (_, call) => (call === 2 ? new Promise<InvokeResult>((resolve) => (release = () => resolve({}))) : {}),
    );
    await waitFor(() => first.fn.events.length === 2, 'the hanging invocation');

    // Act
    await first.poller.stop({ timeoutMs: 20 });
    release();
    await new Promise((resolve) => setImmediate(resolve));
    const second = await run(streamName, path, { StartingPosition: 'TRIM_HORIZON', BatchSize: 2 });
    await waitFor(() => second.fn.batches().flat().includes('10'), 'the last record');

    // Assess
    expect(first.poller.stats().state).toBe('stopped');
    expect(second.fn.batches()[0]).toEqual(['3', '4']);
  });

  it('keeps the LATEST starting point across a restart, so records written while stopped are delivered', async () => {
    // Prepare
    const streamName = await createStream(client);
    const path = join(directory, `${streamName}.json`);
    await putRecords(client, streamName, [{ key: 'k', data: 'before-start' }]);
    const first = await run(streamName, path, { StartingPosition: 'LATEST' });
    await first.poller.stop();

    // Act
    await putRecords(client, streamName, [{ key: 'k', data: 'while-stopped' }]);
    const second = await run(streamName, path, { StartingPosition: 'LATEST' });
    await waitFor(() => second.fn.events.length > 0, 'a delivery');

    // Assess
    expect(first.fn.events).toEqual([]);
    expect(second.fn.batches()).toEqual([['while-stopped']]);
  });

  it('fails to start, naming the problem, when the stream does not exist, and can be started again later', async () => {
    // Prepare
    const fixture = await run(
      'missing-stream',
      join(directory, 'missing.json'),
      { StartingPosition: 'LATEST' },
      undefined,
      false,
    );

    // Act
    const start = fixture.poller.start();

    // Assess
    await expect(start).rejects.toThrow(/missing-stream/);
    expect(fixture.poller.stats().state).toBe('created');
  });

  it('stops cleanly before it was started, and starts only once', async () => {
    // Prepare
    const streamName = await createStream(client);
    const fixture = await run(
      streamName,
      join(directory, `${streamName}.json`),
      { StartingPosition: 'LATEST' },
      undefined,
      false,
    );

    // Act
    await fixture.poller.stop();

    // Assess
    expect(fixture.poller.stats().state).toBe('stopped');
    await expect(fixture.poller.start()).rejects.toThrow('was already started');
  });
});
