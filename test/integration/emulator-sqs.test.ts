import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
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

  it('counts the messages a redrive is to move as those visible, never fewer than none', async () => {
    // Prepare: a dead-letter queue holding three messages, two of them in flight (a peek).
    const parking = await newQueue();
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: parking, AttributeNames: ['QueueArn'] }),
    );
    const source = await newQueue();
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: source,
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes.QueueArn, maxReceiveCount: 5 }),
        },
      }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: parking, MessageBody: 'second' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: parking, MessageBody: 'third' }));
    await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: parking, MaxNumberOfMessages: 2, VisibilityTimeout: 60 }),
    );
    // Act
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: Attributes.QueueArn }));
    const { Results = [] } = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: Attributes.QueueArn }),
    );
    // Assess: unmended, visible less in flight (1 - 2).
    expect(Results[0]?.ApproximateNumberOfMessagesToMove).toBe(1);
  });

  it('answers a long poll as soon as it has a message, not when it has as many as asked for', async () => {
    // Prepare: one message, and a receive of up to 10 that may wait 20 s.
    const QueueUrl = await newQueue();
    const WaitTimeSeconds = 20;
    const started = Date.now();
    // Act
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds,
        VisibilityTimeout: 60,
      }),
    );
    // Assess: well before the wait's end (unmended, it answered after the whole wait); a busy machine may take seconds.
    expect(Messages.map((m) => m.Body)).toEqual(['pointer']);
    expect(Date.now() - started).toBeLessThan((WaitTimeSeconds * 1000) / 2);
  });

  it('answers a long poll when a message arrives during the wait', async () => {
    // Prepare: an empty queue, and a message sent 300 ms into a receive that may wait 20 s.
    queues += 1;
    const WaitTimeSeconds = 20;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `queue-${queues}` }));
    const started = Date.now();
    const sending = new Promise((resolve) => setTimeout(resolve, 300)).then(() =>
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'late' })),
    );
    // Act
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds }),
    );
    await sending;
    // Assess: well before the wait's end, which a busy machine's few seconds cannot reach.
    expect(Messages.map((m) => m.Body)).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan((WaitTimeSeconds * 1000) / 2);
  });

  it('holds back the later messages of a FIFO message group while one of its messages is in flight', async () => {
    // Prepare: two messages of group a, one of group b; the first of a is received and not deleted.
    queues += 1;
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `queue-${queues}.fifo`,
        Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
      }),
    );
    for (const [body, group] of [
      ['a-1', 'a'],
      ['a-2', 'a'],
      ['b-1', 'b'],
    ] as const) {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: group }));
    }
    const first = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }),
    );

    // Act
    const whileInFlight = await receiveAll(sqs, QueueUrl!);
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first.Messages![0]!.ReceiptHandle! }));
    const afterDelete = await receiveAll(sqs, QueueUrl!);

    // Assess: SQS returns no message of a group that has one in flight.
    expect(first.Messages?.map((m) => m.Body)).toEqual(['a-1']);
    expect(whileInFlight.map((m) => m.Body)).toEqual(['b-1']);
    expect(afterDelete.map((m) => m.Body)).toEqual(['a-2']);
  });
});

/** The message ids saved in `<path>/messages.json`, per queue. */
const savedIds = (path: string): Record<string, string[]> => {
  const file = join(path, 'messages.json');
  if (!existsSync(file)) return {};
  const { queues } = JSON.parse(readFileSync(file, 'utf8')) as {
    queues: Record<string, Array<{ MessageId: string }>>;
  };
  return Object.fromEntries(
    Object.entries(queues).map(([name, records]) => [name, records.map((r) => r.MessageId)]),
  );
};

const receiveAll = async (client: SQSClient, QueueUrl: string) => {
  const { Messages = [] } = await client.send(
    new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
  );
  return Messages;
};

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

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
        expect(restored).toEqual({ restored: { failures: 2 }, dropped: {}, expired: {} });
        expect(Messages.map((m) => [m.MessageId, m.Body]).sort()).toEqual(
          [
            [sent[0], 'pointer-1'],
            [sent[1], 'pointer-2'],
          ].sort(),
        );
        expect(Messages.map((m) => m.Attributes?.ApproximateReceiveCount).sort()).toEqual(['1', '2']);
        // Once: a second call brings nothing back twice.
        expect(second.restoreMessages()).toEqual({ restored: {}, dropped: {}, expired: {} });
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
        expect(second.restoreMessages()).toEqual({ restored: {}, dropped: { renamed: 1 }, expired: {} });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('counts their retention from when they were sent: one past it is not put back, the other expires in its time', async () => {
    // Prepare: a queue that keeps its messages 60 s, the least SQS takes; two messages saved at a stop, then made
    // older in the folder, as a stop of a day would: one sent 61 s ago, one 59.5 s ago.
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    const Attributes = { MessageRetentionPeriod: '60' };
    try {
      const first = await startSqs({ path });
      const before = sqsClient(first.endpoint);
      const { QueueUrl } = await before.send(new CreateQueueCommand({ QueueName: 'failures', Attributes }));
      for (const body of ['expired', 'expiring']) {
        await before.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      }
      before.destroy();
      await first.close();
      const file = join(path, 'messages.json');
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        queues: Record<string, Array<{ MessageBody: string; attributes: { SentTimestamp: string } }>>;
      };
      for (const record of saved.queues.failures!) {
        const age = record.MessageBody === 'expired' ? 61_000 : 59_500;
        record.attributes.SentTimestamp = String(Date.now() - age);
      }
      writeFileSync(file, JSON.stringify(saved));
      // Act
      const second = await startSqs({ path });
      const after = sqsClient(second.endpoint);
      try {
        const { QueueUrl: again } = await after.send(
          new CreateQueueCommand({ QueueName: 'failures', Attributes }),
        );
        const restored = second.restoreMessages();
        // Assess: the one past its retention is not back; the other goes when its 60 s since it was sent end.
        expect(restored).toEqual({ restored: { failures: 1 }, dropped: {}, expired: { failures: 1 } });
        let left = Number.POSITIVE_INFINITY;
        const deadline = Date.now() + 5_000;
        while (left > 0 && Date.now() < deadline) {
          const { Attributes: counts } = await after.send(
            new GetQueueAttributesCommand({
              QueueUrl: again,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          );
          left =
            Number(counts?.ApproximateNumberOfMessages) +
            Number(counts?.ApproximateNumberOfMessagesNotVisible);
          if (left > 0) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(left).toBe(0);
      } finally {
        after.destroy();
        await second.close();
      }
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('keeps them across a crash too: the folder follows the queues once restored', async () => {
    // Prepare: an emulator whose saved messages were restored (none), then sends two and deletes one.
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    const first = await startSqs({ path, snapshotIntervalMs: 50 });
    const before = sqsClient(first.endpoint);
    try {
      const { QueueUrl } = await before.send(new CreateQueueCommand({ QueueName: 'failures' }));
      expect(first.restoreMessages()).toEqual({ restored: {}, dropped: {}, expired: {} });
      const kept = await before.send(new SendMessageCommand({ QueueUrl, MessageBody: 'kept' }));
      await before.send(new SendMessageCommand({ QueueUrl, MessageBody: 'deleted' }));
      const deleted = (await receiveAll(before, QueueUrl!)).find((m) => m.Body === 'deleted');
      await until(() => savedIds(path).failures?.length === 2, 'both messages to be saved');
      await before.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: deleted!.ReceiptHandle }));
      await until(() => savedIds(path).failures?.length === 1, 'the deletion to be saved');
      // Act: the first emulator never stops cleanly; a second starts on the same folder.
      const second = await startSqs({ path });
      const after = sqsClient(second.endpoint);
      try {
        const { QueueUrl: again } = await after.send(new CreateQueueCommand({ QueueName: 'failures' }));
        const restored = second.restoreMessages();
        const messages = await receiveAll(after, again!);
        // Assess
        expect(restored).toEqual({ restored: { failures: 1 }, dropped: {}, expired: {} });
        expect(messages.map((m) => [m.MessageId, m.Body])).toEqual([[kept.MessageId, 'kept']]);
      } finally {
        after.destroy();
        await second.close();
      }
    } finally {
      before.destroy();
      await first.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('saves a message at once when asked to, not within the interval', async () => {
    // Prepare: an emulator that would save only every minute.
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    const emulator = await startSqs({ path, snapshotIntervalMs: 60_000 });
    const client = sqsClient(emulator.endpoint);
    try {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'failures' }));
      emulator.restoreMessages();
      const { MessageId } = await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'pointer' }));
      const before = savedIds(path).failures ?? [];
      // Act
      emulator.saveNow();
      // Assess
      expect(before).toEqual([]);
      expect(savedIds(path).failures).toEqual([MessageId]);
    } finally {
      client.destroy();
      await emulator.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('says so, and still stops, when the messages cannot be saved at a clean stop', async () => {
    // Prepare: a message not saved yet, and a folder where the file cannot be written (its temporary name taken).
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    const errors: string[] = [];
    const emulator = await startSqs({
      path,
      snapshotIntervalMs: 60_000,
      onSnapshotError: (error) => errors.push(error.message),
    });
    const client = sqsClient(emulator.endpoint);
    try {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'failures' }));
      emulator.restoreMessages();
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'pointer' }));
      mkdirSync(join(path, 'messages.json.tmp'));
      // Act
      await emulator.close();
      // Assess: the failed save is told, not lost in the stop, and the emulator no longer answers.
      expect(errors).toEqual([expect.stringContaining('EISDIR')]);
      await expect(fetch(emulator.endpoint)).rejects.toThrow();
    } finally {
      client.destroy();
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('does not overwrite the saved messages before they are restored', async () => {
    // Prepare: a saved file, and an emulator started on it whose queues are not created yet.
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    try {
      const first = await startSqs({ path });
      const before = sqsClient(first.endpoint);
      const { QueueUrl } = await before.send(new CreateQueueCommand({ QueueName: 'failures' }));
      await before.send(new SendMessageCommand({ QueueUrl, MessageBody: 'pointer' }));
      before.destroy();
      await first.close();
      // Act
      const second = await startSqs({ path, snapshotIntervalMs: 20 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      await second.close();
      // Assess: neither the start nor the stop wrote over it.
      expect(savedIds(path).failures).toHaveLength(1);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it.each([
    ['{"version":1,"queues":', 'JSON'],
    ['{"version":2,"queues":{}}', 'not a file of saved messages, version 1'],
    ['{"version":1,"queues":{"failures":{}}}', 'not a file of saved messages, version 1'],
    ['null', 'not a file of saved messages, version 1'],
  ])('refuses a saved file it cannot read (%s), naming it and what to do', async (text, why) => {
    // Prepare
    const path = mkdtempSync(join(tmpdir(), 'sqs-data-'));
    writeFileSync(join(path, 'messages.json'), text);
    try {
      const emulator = await startSqs({ path });
      try {
        // Act / Assess: refused each time, and left as it is by the stop.
        expect(() => emulator.restoreMessages()).toThrow(
          `cannot read the saved SQS messages in ${join(path, 'messages.json')}`,
        );
        expect(() => emulator.restoreMessages()).toThrow(why);
        expect(() => emulator.restoreMessages()).toThrow('move the file away to start without them');
      } finally {
        await emulator.close();
      }
      expect(readFileSync(join(path, 'messages.json'), 'utf8')).toBe(text);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });
});
