import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startSqs } from '#local/emulators/index.ts';
import { sqsClient } from '#test/helpers/esm-fixtures.ts';

let emulator: RunningEmulator;
let sqs: SQSClient;
let queues = 0;

const newQueue = async (): Promise<string> => {
  queues += 1;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `queue-${queues}` }));
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'pointer' }));
  return QueueUrl!;
};

const receive = async (QueueUrl: string) => {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl,
      VisibilityTimeout: 60,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      // The older field, which local-aws-sqs reads.
      AttributeNames: ['All'],
    }),
  );
  return Messages;
};

const depth = async (QueueUrl: string) => {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return [
    Number(Attributes.ApproximateNumberOfMessages),
    Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  ];
};

describe('Local runtime: the SQS emulator counts receives and waiting messages as SQS does', () => {
  beforeAll(async () => {
    emulator = await startSqs();
    sqs = sqsClient(emulator.endpoint);
  });

  afterAll(async () => {
    sqs?.destroy();
    await emulator?.close();
  });

  it('counts a receive once, not again when the message is made visible again', async () => {
    // Prepare: received once, then released, as a dry-run replay does.
    const QueueUrl = await newQueue();
    const [first] = await receive(QueueUrl);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: first!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    // Act
    const [again] = await receive(QueueUrl);
    // Assess
    expect(first!.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(again!.Attributes?.ApproximateReceiveCount).toBe('2');
  });

  it('counts an in-flight message as not visible only', async () => {
    // Prepare
    const QueueUrl = await newQueue();
    const before = await depth(QueueUrl);
    // Act
    await receive(QueueUrl);
    // Assess
    expect(before).toEqual([1, 0]);
    expect(await depth(QueueUrl)).toEqual([0, 1]);
  });
});

describe('Local runtime: the SQS emulator keeps its messages across a clean stop', () => {
  it('puts back every message, an in-flight one included, with its id, body and receive count, once', async () => {
    // Prepare: two messages, one of them received (in flight) when the emulator stops.
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    try {
      const first = await startSqs({ path });
      const before = sqsClient(first.endpoint);
      const { QueueUrl } = await before.send(new CreateQueueCommand({ QueueName: 'failures' }));
      const sent = [];
      for (const body of ['pointer-1', 'pointer-2']) {
        sent.push((await before.send(new SendMessageCommand({ QueueUrl, MessageBody: body }))).MessageId);
      }
      await before.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 600 }),
      );
      before.destroy();
      await first.close();
      // Act: a new emulator on the same folder, with the queue created again.
      const second = await startSqs({ path });
      const after = sqsClient(second.endpoint);
      try {
        const { QueueUrl: again } = await after.send(new CreateQueueCommand({ QueueName: 'failures' }));
        const restored = second.restoreMessages();
        const { Messages = [] } = await after.send(
          new ReceiveMessageCommand({
            QueueUrl: again,
            MaxNumberOfMessages: 10,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
            AttributeNames: ['All'],
          }),
        );
        // Assess
        expect(restored).toEqual({ restored: { failures: 2 }, dropped: {} });
        expect(Messages.map((m) => [m.MessageId, m.Body]).sort()).toEqual(
          [
            [sent[0], 'pointer-1'],
            [sent[1], 'pointer-2'],
          ].sort(),
        );
        expect(Messages.map((m) => m.Attributes?.ApproximateReceiveCount).sort()).toEqual(['1', '2']);
        expect(readdirSync(path)).toEqual([]);
        expect(second.restoreMessages()).toEqual({ restored: {}, dropped: {} });
      } finally {
        after.destroy();
        await second.close();
      }
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('drops, and counts, the messages of a queue that is not created again', async () => {
    // Prepare
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    try {
      const first = await startSqs({ path });
      const before = sqsClient(first.endpoint);
      const { QueueUrl } = await before.send(new CreateQueueCommand({ QueueName: 'renamed' }));
      await before.send(new SendMessageCommand({ QueueUrl, MessageBody: 'pointer' }));
      before.destroy();
      await first.close();
      // Act
      const second = await startSqs({ path });
      try {
        // Assess
        expect(second.restoreMessages()).toEqual({ restored: {}, dropped: { renamed: 1 } });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });
});
