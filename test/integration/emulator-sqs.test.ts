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
