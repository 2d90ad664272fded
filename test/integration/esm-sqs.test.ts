import {
  CreateQueueCommand,
  DeleteQueueCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '#local/emulators/index.ts';
import { SqsPoller } from '#local/esm/sqs-poller.ts';
import {
  createQueue,
  failuresFor,
  queueDepth,
  REPORT_ITEM_FAILURES,
  receiveMessages,
  sendMessages,
  sqsPollerSuite,
  uniqueName,
  waitFor,
} from '#test/helpers/esm-fixtures.ts';

describe('SQS event source mapping', () => {
  const suite = sqsPollerSuite();
  const { start } = suite;

  it('delivers each message in exactly the shape Lambda does, and deletes it after a success', async () => {
    // Prepare
    const queue = await createQueue(suite.client);
    const { MessageId, MD5OfMessageBody } = await suite.client.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: 'test',
        MessageAttributes: { tenant: { DataType: 'String', StringValue: 'acme' } },
      }),
    );

    // Act
    const { fn, events } = await start(queue.arn, {});
    await waitFor(() => events.some((event) => event.type === 'deleted'), 'the delete');

    // Assess
    const [record] = fn.events[0]!.Records;
    expect(Object.keys(record!)).toEqual([
      'messageId',
      'receiptHandle',
      'body',
      'attributes',
      'messageAttributes',
      'md5OfBody',
      'md5OfMessageAttributes',
      'eventSource',
      'eventSourceARN',
      'awsRegion',
    ]);
    expect(record).toEqual({
      messageId: MessageId,
      receiptHandle: expect.any(String),
      body: 'test',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
      },
      md5OfBody: MD5OfMessageBody,
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: LOCAL_REGION,
    });
    expect(await queueDepth(suite.client, queue.url)).toBe(0);
  });

  it('sends batches of at most BatchSize messages', async () => {
    // Prepare
    const queue = await createQueue(suite.client);
    await sendMessages(suite.client, queue.url, ['1', '2', '3', '4', '5']);

    // Act
    const { fn } = await start(queue.url, { BatchSize: 2 });
    await waitFor(() => fn.batches().flat().length === 5, 'every message');

    // Assess
    expect(fn.batches().map((batch) => batch.length)).toEqual([2, 2, 1]);
    expect(fn.batches().flat().sort()).toEqual(['1', '2', '3', '4', '5']);
  });

  it('gathers more than ten messages into one batch within the batching window', async () => {
    // Prepare
    const queue = await createQueue(suite.client);
    const bodies = Array.from({ length: 15 }, (_, index) => `m${index}`);
    await sendMessages(suite.client, queue.url, bodies);

    // Act
    const { fn } = await start(queue.url, { BatchSize: 20, MaximumBatchingWindowInSeconds: 1 });
    await waitFor(() => fn.events.length === 1, 'one invocation');

    // Assess
    expect(fn.batches()[0]!.sort()).toEqual([...bodies].sort());
  });

  it('deletes the messages that succeeded and lets a reported failure come back after the visibility timeout', async () => {
    // Prepare
    const queue = await createQueue(suite.client, { VisibilityTimeout: '1' });
    await sendMessages(suite.client, queue.url, ['ok-1', 'bad', 'ok-2']);

    // Act
    const { fn, poller } = await start(
      queue.url,
      { FunctionResponseTypes: REPORT_ITEM_FAILURES },
      { respond: (event, call) => (call === 1 ? failuresFor(event, ['bad']) : {}) },
    );
    await waitFor(() => fn.events.length === 2, 'the redelivery');

    // Assess
    expect(fn.batches()[0]!.sort()).toEqual(['bad', 'ok-1', 'ok-2']);
    expect(fn.batches()[1]).toEqual(['bad']);
    expect(fn.events[1]!.Records[0]!.attributes.ApproximateReceiveCount).toBe('2');
    await waitFor(() => fn.events.length === 2 && poller.stats().messagesDeleted === 3, 'the deletes');
    expect(await queueDepth(suite.client, queue.url)).toBe(0);
  });

  it.each([
    [
      'an identifier that is not in the batch',
      { payload: { batchItemFailures: [{ itemIdentifier: 'nope' }] } },
    ],
    ['a bad key', { payload: { batchItemFailures: [{ foo: 'notvalid' }] } }],
    ['an empty identifier', { payload: { batchItemFailures: [{ itemIdentifier: '' }] } }],
    ['a thrown error', { functionError: 'Unhandled' as const }],
  ])('fails the whole batch on %s, so every message comes back', async (_, answer) => {
    // Prepare
    const queue = await createQueue(suite.client, { VisibilityTimeout: '1' });
    await sendMessages(suite.client, queue.url, ['a', 'b']);

    // Act
    const { fn } = await start(
      queue.url,
      { FunctionResponseTypes: REPORT_ITEM_FAILURES },
      {
        respond: (_event, call) => (call === 1 ? answer : {}),
      },
    );
    await waitFor(() => fn.events.length === 2, 'the redelivery');

    // Assess
    expect(fn.batches().map((batch) => [...batch].sort())).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(fn.events[1]!.Records.map((record) => record.attributes.ApproximateReceiveCount)).toEqual([
      '2',
      '2',
    ]);
  });

  it('ignores a returned failure list when ReportBatchItemFailures is off', async () => {
    // Prepare
    const queue = await createQueue(suite.client, { VisibilityTimeout: '1' });
    await sendMessages(suite.client, queue.url, ['a', 'b']);

    // Act
    const { poller, fn } = await start(queue.url, {}, { respond: (event) => failuresFor(event, ['a']) });
    await waitFor(() => poller.stats().messagesDeleted === 2, 'the deletes');

    // Assess
    expect(fn.events).toHaveLength(1);
    expect(await queueDepth(suite.client, queue.url)).toBe(0);
  });

  it("moves a message that keeps failing to the queue's dead-letter queue after maxReceiveCount", async () => {
    // Prepare
    const dlq = await createQueue(suite.client, {}, 'dlq');
    const queue = await createQueue(suite.client, {
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
    });
    await sendMessages(suite.client, queue.url, ['poison']);

    // Act
    const { fn } = await start(queue.url, {}, { respond: () => ({ functionError: 'Unhandled' }) });
    const [dead] = await receiveMessages(suite.client, dlq.url, 1);

    // Assess
    expect(dead?.Body).toBe('poison');
    expect(fn.batches()).toEqual([['poison'], ['poison']]);
    expect(fn.events.map((event) => event.Records[0]!.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '2',
    ]);
  });

  it('keeps a FIFO message group in order when a batch cut at 6 MB fails: the messages received past the cut wait for the failed ones', async () => {
    // Prepare: eight messages of one group, each near 1 MB; one receive takes all eight, and six of them fill 6 MB.
    const { QueueUrl } = await suite.client.send(
      new CreateQueueCommand({
        QueueName: `${uniqueName('ordered')}.fifo`,
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '1', MaximumMessageSize: '1048576' },
      }),
    );
    const names = Array.from({ length: 8 }, (_, index) => `m${index}`);
    for (const name of names) {
      await suite.client.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: `${name}:${'x'.repeat(1_000_000)}`,
          MessageGroupId: 'g',
          MessageDeduplicationId: name,
        }),
      );
    }

    // Act: the first invocation fails, every later one succeeds.
    const { fn } = await start(
      QueueUrl!,
      { BatchSize: 10 },
      { respond: (_, call) => (call === 1 ? { functionError: 'Unhandled' } : {}) },
    );
    const order = () => fn.batches().map((batch) => batch.map((body) => body.split(':')[0]));
    await waitFor(
      () => order().slice(1).flat().length >= names.length,
      'every message delivered again or on',
    );

    // Assess: the group's messages reach the function in order, the failed ones before those after them.
    expect(order()[0]).toEqual(names.slice(0, 6));
    expect(order().slice(1).flat()).toEqual(names);
  });

  it('releases messages it gathered but never sent when stopped', async () => {
    // Prepare
    const queue = await createQueue(suite.client, { VisibilityTimeout: '300' });
    await sendMessages(suite.client, queue.url, ['held']);
    const { poller, fn } = await start(queue.url, { BatchSize: 20, MaximumBatchingWindowInSeconds: 300 });
    await waitFor(() => poller.stats().messagesIn === 1, 'the receive');

    // Act
    await poller.stop();
    const [released] = await receiveMessages(suite.client, queue.url, 1, 2_000);

    // Assess
    expect(released?.Body).toBe('held');
    expect(fn.events).toEqual([]);
  });

  it('rejects a BatchSize above 10 without a batching window, and does nothing when disabled', async () => {
    // Prepare
    const queue = await createQueue(suite.client);

    // Act
    const create = () =>
      new SqsPoller({
        client: suite.client,
        queue: queue.url,
        properties: { BatchSize: 50 },
        invoke: async () => ({}),
        functionName: 'Worker',
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT_ID,
      });
    const { poller } = await start(queue.url, { Enabled: false });

    // Assess
    expect(create).toThrow(
      'Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10',
    );
    expect(poller.stats()).toMatchObject({ state: 'disabled', queueArn: queue.arn, invocations: 0 });
  });

  it('stops polling, disabled with the reason, once its queue is deleted while it runs', async () => {
    // Prepare
    const queue = await createQueue(suite.client);
    await sendMessages(suite.client, queue.url, ['before']);
    const { poller, fn, events } = await start(
      queue.url,
      {},
      // A long poll already waiting on the deleted queue ends only after its wait: 1 s, not 20.
      { concurrency: 3, waitTimeSeconds: 1, retryBaseDelayMs: 5, retryMaxDelayMs: 5 },
    );
    await waitFor(() => fn.events.length === 1, 'the first message');

    // Act
    await suite.client.send(new DeleteQueueCommand({ QueueUrl: queue.url }));
    await waitFor(() => poller.stats().state === 'disabled', 'the mapping to be disabled');
    const errors = events.filter((event) => event.type === 'error').length;
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Assess: one notice, and no more calls failing after it.
    expect(poller.stats().stateTransitionReason).toBe(
      `queue ${queue.name} was deleted: the mapping stopped polling it`,
    );
    expect(events.filter((event) => event.type === 'source-deleted')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'error')).toHaveLength(errors);
    await poller.stop();
    expect(poller.stats().state).toBe('disabled');
  });

  it('long-polls an idle queue, delivering a message as soon as it is sent, and stops without waiting for the poll', async () => {
    // Prepare: count the receives the poller sends, each of which may wait 20 s for a message; a stop abandons a
    // call that has not ended only after as long (stopGraceMs), unless the call is the waiting poll.
    const queue = await createQueue(suite.client);
    const waitTimeSeconds = 20;
    let receives = 0;
    const counting = {
      send: (command: { constructor: { name: string } }, options: unknown) => {
        if (command.constructor.name === 'ReceiveMessageCommand') receives += 1;
        return (suite.client.send as (c: unknown, o: unknown) => Promise<unknown>)(command, options);
      },
    } as unknown as SQSClient;
    const stopGraceMs = waitTimeSeconds * 1000;
    const { poller, fn } = await start(queue.url, {}, { client: counting, waitTimeSeconds, stopGraceMs });

    // Act
    await waitFor(() => receives > 0, 'the first receive');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idleReceives = receives;
    const sentAt = Date.now();
    await sendMessages(suite.client, queue.url, ['late']);
    await waitFor(() => fn.events.length === 1, 'the message', waitTimeSeconds * 1000);
    const deliveredInMs = Date.now() - sentAt;
    await waitFor(() => receives === idleReceives + 1, 'the next poll');
    const stopAt = Date.now();
    await poller.stop();

    // Assess: one waiting receive in 500 ms, where 20 ms short polls made about 25; the message, and the stop with
    // the next poll waiting, each came well before a poll's 20 s were out (a busy machine can take a second or more).
    expect(idleReceives).toBe(1);
    expect(deliveredInMs).toBeLessThan((waitTimeSeconds * 1000) / 2);
    expect(Date.now() - stopAt).toBeLessThan((waitTimeSeconds * 1000) / 2);
    expect(fn.batches()).toEqual([['late']]);
  });
});
